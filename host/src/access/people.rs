//! People as administrators manage them: users, their roles and teams, and the merged permissions
//! every request of theirs runs with ([`Gate::permissions_of`]).

use super::roles::{Permissions, RoleDef, builtin};
use super::{AccessError, Effective, Gate, Principal, Result, SystemPermission};
use crate::audit::{Event, Outcome};
use crate::store::{Tx, now_micros};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

fn builtin_roles() -> &'static [Arc<RoleDef>] {
    static ROLES: OnceLock<Vec<Arc<RoleDef>>> = OnceLock::new();
    ROLES.get_or_init(|| builtin().into_iter().map(Arc::new).collect())
}

fn builtin_role(name: &str) -> Option<Arc<RoleDef>> {
    builtin_roles().iter().find(|r| r.name == name).cloned()
}

/// A user as administrators see them (never a password hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub id: String,
    pub username: String,
    pub roles: Vec<String>,
    /// Team names.
    pub teams: Vec<String>,
    pub disabled: bool,
    /// Whether a TOTP second factor is enabled.
    pub mfa_enabled: bool,
    /// The user's own address ranges (their roles may add more).
    pub ip_allow: Vec<String>,
    pub created_at: String,
    pub last_login_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub roles: Vec<String>,
    /// Team names.
    #[serde(default)]
    pub teams: Vec<String>,
}

/// A change to a user; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub roles: Option<Vec<String>>,
    pub teams: Option<Vec<String>>,
    /// Disabling revokes every token and session of the user at once.
    pub disabled: Option<bool>,
    /// With `disabled: true`: the user who takes over the records they owned.
    pub reassign_to: Option<String>,
    /// Address ranges (CIDR) the user may work from, on top of their roles' lists; `[]` clears.
    pub ip_allow: Option<Vec<String>>,
    /// Remove the user's second factor (a lost device); they enrol again at the next sign-in.
    pub reset_mfa: Option<bool>,
}

/// The most users one page holds.
pub const MAX_USER_PAGE: usize = 500;

/// Which users a listing asks for.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// The username the previous page ended with.
    pub after: Option<String>,
    /// Only users whose name contains this (any case).
    #[serde(rename = "q")]
    pub search: Option<String>,
    #[serde(default = "default_user_page")]
    pub limit: usize,
}

fn default_user_page() -> usize {
    100
}

/// A page of users, and the cursor of the next one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserPage {
    pub users: Vec<UserInfo>,
    /// Pass as `after` for the next page; absent on the last one.
    pub next: Option<String>,
}

enum UserSelect<'a> {
    All,
    One(&'a str),
    Named(&'a str),
    Page(&'a UserQuery),
}

/// (user id, value) pairs of `sql` (which names the value `v`) in value order, of the users `only`
/// names or of everyone.
async fn memberships(db: &sqlx::AnyPool, sql: &str, only: Option<&[String]>) -> Result<Vec<(String, String)>> {
    let mut c = crate::store::Conditions::default();
    if let Some(ids) = only {
        c.push_in("user_id", ids.to_vec());
    }
    let sql = format!("SELECT * FROM ({sql}) x{} ORDER BY x.v", c.where_sql());
    c.bind(sqlx::query(&sql)).fetch_all(db).await?.iter().map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?))).collect()
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TeamInfo {
    pub id: String,
    pub name: String,
    /// User names.
    pub members: Vec<String>,
}

impl Gate {
    /// The one check of this module: people, roles and teams are for those with `users`.
    async fn require_users(&self, p: &Principal, action: &str) -> Result<()> {
        if Effective::of(p).has(SystemPermission::Users) {
            return Ok(());
        }
        self.inner.deny(p, action, None, "managing users and roles").await
    }

    async fn audit_in(&self, tx: &mut Tx, p: &Principal, action: &str, detail: String) -> Result<()> {
        let ev = Event::new(&p.actor, action, Outcome::Allowed).request(p.request_id.as_deref()).detail(detail);
        Ok(self.inner.audit.append(tx, vec![ev]).await?)
    }

    /// The merged permissions of a user: the union of their roles, and who shares a team with
    /// them. One statement, since every request pays for it.
    pub async fn permissions_of(&self, user_id: &str) -> Result<Permissions> {
        let rows = sqlx::query(
            "SELECT 'r', ur.role, r.definition FROM user_roles ur LEFT JOIN roles r ON r.name = ur.role WHERE ur.user_id = $1 \
             UNION ALL \
             SELECT 'p', m2.user_id, NULL FROM team_members m1 JOIN team_members m2 ON m2.team_id = m1.team_id WHERE m1.user_id = $1 \
             UNION ALL \
             SELECT 'u', id, ip_allow FROM users WHERE id = $1",
        )
        .bind(user_id.to_string())
        .fetch_all(self.inner.db.reader())
        .await?;
        let mut roles = Vec::new();
        let mut peers = BTreeSet::new();
        let mut ip_allow: Vec<String> = Vec::new();
        for r in rows {
            let kind: String = r.try_get(0)?;
            let name: String = r.try_get(1)?;
            if kind == "p" {
                peers.insert(name);
                continue;
            }
            if kind == "u" {
                ip_allow = r.try_get::<Option<String>, _>(2)?.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
                continue;
            }
            if let Some(b) = builtin_role(&name) {
                roles.push(b);
            } else if let Some(def) = r.try_get::<Option<String>, _>(2)? {
                // A definition that no longer parses grants nothing rather than failing the user.
                match serde_json::from_str::<RoleDef>(&def) {
                    Ok(d) => roles.push(Arc::new(d)),
                    Err(e) => tracing::warn!(role = %name, "stored role definition does not parse and grants nothing: {e}"),
                }
            }
        }
        Ok(Permissions::union(roles, Some(user_id.to_string()), peers, &ip_allow))
    }

    /// Every role: the built-in ones, then those administrators added.
    pub async fn roles(&self, p: &Principal) -> Result<Vec<RoleDef>> {
        self.require_users(p, "role.list").await?;
        let mut out: Vec<RoleDef> = builtin_roles().iter().map(|r| (**r).clone()).collect();
        let rows = sqlx::query("SELECT definition FROM roles ORDER BY name").fetch_all(self.inner.db.reader()).await?;
        for r in rows {
            let text: String = r.try_get(0)?;
            out.push(serde_json::from_str(&text).map_err(|e| AccessError::Internal(format!("stored role does not parse: {e}")))?);
        }
        Ok(out)
    }

    /// Adds a role or replaces one administrators added; built-in roles cannot be changed.
    pub async fn put_role(&self, p: &Principal, mut def: RoleDef) -> Result<RoleDef> {
        def.builtin = false;
        self.require_users(p, "role.put").await?;
        if builtin_role(&def.name).is_some() {
            return Err(AccessError::Conflict(format!("`{}` is a built-in role; add a role of your own instead", def.name)));
        }
        def.validate(&self.schema()).map_err(AccessError::BadRequest)?;
        let mut tx = self.inner.db.begin_write().await?;
        let now = now_micros();
        sqlx::query(
            "INSERT INTO roles (name, definition, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at",
        )
        .bind(def.name.clone())
        .bind(serde_json::to_string(&def).expect("serialises"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.audit_in(&mut tx, p, "role.put", format!("role {}", def.name)).await?;
        tx.commit().await?;
        Ok(def)
    }

    /// Removes a role administrators added; refused while a user holds it.
    pub async fn delete_role(&self, p: &Principal, name: &str) -> Result<()> {
        self.require_users(p, "role.delete").await?;
        if builtin_role(name).is_some() {
            return Err(AccessError::Conflict(format!("`{name}` is a built-in role")));
        }
        let mut tx = self.inner.db.begin_write().await?;
        let holders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_roles WHERE role = $1").bind(name.to_string()).fetch_one(&mut *tx).await?;
        if holders > 0 {
            return Err(AccessError::Conflict(format!("{holders} user(s) hold `{name}`; take it from them first")));
        }
        let n = sqlx::query("DELETE FROM roles WHERE name = $1").bind(name.to_string()).execute(&mut *tx).await?.rows_affected();
        if n == 0 {
            return Err(AccessError::NotFound { object: "role".into(), id: name.into() });
        }
        self.audit_in(&mut tx, p, "role.delete", format!("role {name}")).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn check_roles(&self, tx: &mut Tx, roles: &[String]) -> Result<()> {
        for r in roles {
            if builtin_role(r).is_some() {
                continue;
            }
            let found: Option<String> = sqlx::query_scalar("SELECT name FROM roles WHERE name = $1").bind(r.clone()).fetch_optional(&mut **tx).await?;
            if found.is_none() {
                return Err(AccessError::BadRequest(format!("no role named `{}`", r.chars().take(64).collect::<String>())));
            }
        }
        Ok(())
    }

    async fn team_ids(&self, tx: &mut Tx, names: &[String]) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for n in names {
            let id: Option<String> = sqlx::query_scalar("SELECT id FROM teams WHERE name = $1").bind(n.clone()).fetch_optional(&mut **tx).await?;
            ids.push(id.ok_or_else(|| AccessError::BadRequest(format!("no team named `{}`", n.chars().take(64).collect::<String>())))?);
        }
        Ok(ids)
    }

    async fn set_memberships(&self, tx: &mut Tx, user_id: &str, roles: Option<&[String]>, teams: Option<&[String]>) -> Result<()> {
        if let Some(roles) = roles {
            self.check_roles(tx, roles).await?;
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1").bind(user_id.to_string()).execute(&mut **tx).await?;
            for r in roles.iter().collect::<BTreeSet<_>>() {
                sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)").bind(user_id.to_string()).bind(r.clone()).execute(&mut **tx).await?;
            }
            // The legacy flag follows the admin role, for tools that read it.
            sqlx::query("UPDATE users SET is_admin = $1 WHERE id = $2")
                .bind(i64::from(roles.iter().any(|r| r == "admin")))
                .bind(user_id.to_string())
                .execute(&mut **tx)
                .await?;
        }
        if let Some(teams) = teams {
            let ids = self.team_ids(tx, teams).await?;
            sqlx::query("DELETE FROM team_members WHERE user_id = $1").bind(user_id.to_string()).execute(&mut **tx).await?;
            for id in ids.into_iter().collect::<BTreeSet<_>>() {
                sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1, $2)").bind(id).bind(user_id.to_string()).execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    /// Creates a user with roles and teams, in one transaction with its audit entry.
    pub async fn create_user(&self, p: &Principal, auth: &crate::auth::Auth, u: NewUser) -> Result<UserInfo> {
        self.require_users(p, "user.create").await?;
        if u.roles.is_empty() {
            return Err(AccessError::BadRequest("a user needs at least one role".into()));
        }
        if !crate::model::is_valid_username(&u.username) {
            return Err(AccessError::BadRequest("a user name is 1 to 64 letters, digits, `.`, `-`, `_` or `@`".into()));
        }
        let mut tx = self.inner.db.begin_write().await?;
        let id = auth.create_user(&mut tx, &u.username, &u.password, u.roles.iter().any(|r| r == "admin")).await.map_err(|e| match e {
            crate::auth::AuthError::WeakPassword(m) => AccessError::BadRequest(format!("password policy: {m}")),
            crate::auth::AuthError::UserExists(n) => AccessError::Conflict(format!("a user named `{n}` already exists")),
            other => AccessError::Internal(other.to_string()),
        })?;
        self.set_memberships(&mut tx, &id, Some(&u.roles), Some(&u.teams)).await?;
        self.audit_in(&mut tx, p, "user.create", format!("user {} roles {}", u.username, u.roles.join(","))).await?;
        tx.commit().await?;
        self.user_info(&id).await
    }

    /// Changes a user's roles, teams or state. Disabling revokes every token at once (the next
    /// request of that user fails, whatever they hold) and can hand their records to another user.
    pub async fn update_user(&self, p: &Principal, auth: &crate::auth::Auth, id: &str, c: UserChange) -> Result<UserInfo> {
        self.require_users(p, "user.update").await?;
        let mut tx = self.inner.db.begin_write().await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT username FROM users WHERE id = $1").bind(id.to_string()).fetch_optional(&mut *tx).await?;
        let username = exists.ok_or_else(|| AccessError::NotFound { object: "user".into(), id: id.chars().take(64).collect() })?;
        if c.reassign_to.is_some() && c.disabled != Some(true) {
            return Err(AccessError::BadRequest("`reassign_to` goes with `disabled: true`".into()));
        }
        self.set_memberships(&mut tx, id, c.roles.as_deref(), c.teams.as_deref()).await?;
        let mut detail = vec![format!("user {username}")];
        if let Some(list) = &c.ip_allow {
            for cidr in list {
                cidr.parse::<ipnet::IpNet>().map_err(|_| AccessError::BadRequest(format!("ip_allow: `{}` is not an address range like 10.0.0.0/8", cidr.chars().take(60).collect::<String>())))?;
            }
            let value = (!list.is_empty()).then(|| serde_json::to_string(list).expect("serialises"));
            sqlx::query("UPDATE users SET ip_allow = $1 WHERE id = $2").bind(value).bind(id.to_string()).execute(&mut *tx).await?;
            detail.push(format!("ip_allow {}", if list.is_empty() { "cleared".to_string() } else { list.join(",") }));
        }
        if let Some(r) = &c.roles {
            detail.push(format!("roles {}", r.join(",")));
        }
        if let Some(t) = &c.teams {
            detail.push(format!("teams {}", t.join(",")));
        }
        if let Some(d) = c.disabled {
            if d && p.user_id.as_deref() == Some(id) {
                return Err(AccessError::BadRequest("you cannot disable yourself".into()));
            }
            sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2").bind(i64::from(d)).bind(id.to_string()).execute(&mut *tx).await?;
            if d {
                let n = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                    .bind(now_micros())
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                detail.push(format!("disabled, {n} token(s) revoked"));
                if let Some(to) = &c.reassign_to {
                    let ok: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1 AND disabled = 0").bind(to.clone()).fetch_optional(&mut *tx).await?;
                    if ok.is_none() || to == id {
                        return Err(AccessError::BadRequest("`reassign_to` must name another active user".into()));
                    }
                    let moved = sqlx::query("UPDATE records SET owner_id = $1 WHERE owner_id = $2").bind(to.clone()).bind(id.to_string()).execute(&mut *tx).await?.rows_affected();
                    detail.push(format!("{moved} record(s) reassigned"));
                }
            } else {
                detail.push("enabled".into());
            }
        }
        self.audit_in(&mut tx, p, "user.update", detail.join("; ")).await?;
        tx.commit().await?;
        if c.reset_mfa == Some(true) {
            auth.mfa_reset(id).await.map_err(|e| AccessError::Internal(e.to_string()))?;
            self.inner.audit.record(vec![Event::new(&p.actor, "mfa.reset", Outcome::Allowed).request(p.request_id.as_deref()).detail(format!("user {username}"))]).await?;
        }
        self.user_info(id).await
    }

    async fn user_info(&self, id: &str) -> Result<UserInfo> {
        let mut all = self.user_infos(UserSelect::One(id)).await?;
        all.pop().ok_or_else(|| AccessError::NotFound { object: "user".into(), id: id.into() })
    }

    async fn user_infos(&self, select: UserSelect<'_>) -> Result<Vec<UserInfo>> {
        let db = self.inner.db.reader();
        let mut c = crate::store::Conditions::default();
        let mut limit = String::new();
        match &select {
            UserSelect::All => {}
            UserSelect::One(id) => c.push("u.id", "=", crate::store::Arg::Text(id.to_string())),
            UserSelect::Named(name) => c.push("u.username", "=", crate::store::Arg::Text(name.to_string())),
            UserSelect::Page(q) => {
                if let Some(after) = &q.after {
                    c.push("u.username", ">", crate::store::Arg::Text(after.clone()));
                }
                if let Some(term) = q.search.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                    let escaped = term.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                    c.push_template("LOWER(u.username) LIKE {} ESCAPE '\\'", crate::store::Arg::Text(format!("%{escaped}%")));
                }
                limit = format!(" LIMIT {}", q.limit + 1);
            }
        }
        let sql = format!(
            "SELECT u.id, u.username, u.disabled, u.created_at, u.last_login_at, u.totp_enabled, u.ip_allow FROM users u{} ORDER BY u.username{limit}",
            c.where_sql()
        );
        let rows = c.bind(sqlx::query(&sql)).fetch_all(db).await?;
        // Memberships of the users read only, unless every user is.
        let ids: Vec<String> = rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<std::result::Result<_, _>>()?;
        let only = (!matches!(select, UserSelect::All)).then_some(ids.as_slice());
        let roles = memberships(db, "SELECT user_id, role AS v FROM user_roles", only).await?;
        let teams = memberships(db, "SELECT m.user_id, t.name AS v FROM team_members m JOIN teams t ON t.id = m.team_id", only).await?;
        let mut out = Vec::with_capacity(rows.len());
        for (r, id) in rows.iter().zip(ids) {
            let pick = |rows: &[(String, String)]| rows.iter().filter(|(u, _)| *u == id).map(|(_, v)| v.clone()).collect();
            out.push(UserInfo {
                roles: pick(&roles),
                teams: pick(&teams),
                username: r.try_get(1)?,
                disabled: r.try_get::<i64, _>(2)? != 0,
                created_at: crate::store::micros_to_rfc3339(r.try_get(3)?),
                last_login_at: r.try_get::<Option<i64>, _>(4)?.map(crate::store::micros_to_rfc3339),
                mfa_enabled: r.try_get::<i64, _>(5)? != 0,
                ip_allow: r.try_get::<Option<String>, _>(6)?.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default(),
                id,
            });
        }
        Ok(out)
    }

    /// Every user with their roles and teams.
    pub async fn users(&self, p: &Principal) -> Result<Vec<UserInfo>> {
        self.require_users(p, "user.list").await?;
        self.user_infos(UserSelect::All).await
    }

    /// One page of users in username order, optionally those whose name contains a term.
    pub async fn users_page(&self, p: &Principal, q: &UserQuery) -> Result<UserPage> {
        self.require_users(p, "user.list").await?;
        if !(1..=MAX_USER_PAGE).contains(&q.limit) {
            return Err(AccessError::BadRequest(format!("`limit` must be 1 to {MAX_USER_PAGE}")));
        }
        if q.search.as_ref().is_some_and(|t| t.len() > 200) {
            return Err(AccessError::BadRequest("a search is at most 200 bytes".into()));
        }
        let mut users = self.user_infos(UserSelect::Page(q)).await?;
        let next = if users.len() > q.limit {
            users.truncate(q.limit);
            users.last().map(|u| u.username.clone())
        } else {
            None
        };
        Ok(UserPage { users, next })
    }

    /// How many users hold each role (a role nobody holds is absent).
    pub async fn role_holders(&self, p: &Principal) -> Result<std::collections::BTreeMap<String, usize>> {
        self.require_users(p, "user.list").await?;
        let rows = sqlx::query("SELECT role, COUNT(*) FROM user_roles GROUP BY role").fetch_all(self.inner.db.reader()).await?;
        rows.iter().map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)? as usize))).collect()
    }

    /// One user with their roles and teams.
    pub async fn user(&self, p: &Principal, id: &str) -> Result<UserInfo> {
        self.require_users(p, "user.list").await?;
        self.user_info(id).await
    }

    /// The user of a name, if there is one.
    pub async fn user_named(&self, p: &Principal, username: &str) -> Result<Option<UserInfo>> {
        self.require_users(p, "user.list").await?;
        Ok(self.user_infos(UserSelect::Named(username)).await?.pop())
    }

    pub async fn teams(&self, p: &Principal) -> Result<Vec<TeamInfo>> {
        self.require_users(p, "team.list").await?;
        let db = self.inner.db.reader();
        let rows = sqlx::query("SELECT id, name FROM teams ORDER BY name").fetch_all(db).await?;
        let members = sqlx::query("SELECT m.team_id, u.username FROM team_members m JOIN users u ON u.id = m.user_id ORDER BY u.username").fetch_all(db).await?;
        let mut out = Vec::new();
        for r in rows {
            let id: String = r.try_get(0)?;
            let mut m = Vec::new();
            for x in &members {
                if x.try_get::<String, _>(0)? == id {
                    m.push(x.try_get(1)?);
                }
            }
            out.push(TeamInfo { name: r.try_get(1)?, members: m, id });
        }
        Ok(out)
    }

    pub async fn create_team(&self, p: &Principal, name: &str) -> Result<TeamInfo> {
        self.require_users(p, "team.create").await?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(AccessError::BadRequest("a team name is 1 to 100 characters".into()));
        }
        let mut tx = self.inner.db.begin_write().await?;
        let id = uuid::Uuid::now_v7().to_string();
        let n = sqlx::query("INSERT INTO teams (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(id.clone())
            .bind(name.to_string())
            .bind(now_micros())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(AccessError::Conflict(format!("a team named `{name}` already exists")));
        }
        self.audit_in(&mut tx, p, "team.create", format!("team {name}")).await?;
        tx.commit().await?;
        Ok(TeamInfo { id, name: name.to_string(), members: Vec::new() })
    }
}

/// An account nobody has used for a while (offboarding report).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InactiveUser {
    pub id: String,
    pub username: String,
    pub roles: Vec<String>,
    pub created_at: String,
    /// Never signed in, if absent.
    pub last_login_at: Option<String>,
}

/// Who can see one field, and how.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldExposure {
    pub object: String,
    pub field: String,
    pub classification: crate::model::Classification,
    pub users: Vec<FieldViewer>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldViewer {
    pub username: String,
    /// masked, read or write.
    pub access: super::FieldAccess,
    /// Whether they may reveal it where they see it masked.
    pub may_reveal: bool,
    /// The record scope they have on the object.
    pub scope: super::RecordScope,
}

impl Gate {
    /// Enabled accounts not signed into for `days` days (or never, and older than that).
    pub async fn inactive_users(&self, p: &Principal, days: i64) -> Result<Vec<InactiveUser>> {
        self.require_users(p, "report.inactive").await?;
        if !(1..=3650).contains(&days) {
            return Err(AccessError::BadRequest("days must be 1 to 3650".into()));
        }
        let cutoff = now_micros() - days * 86_400 * 1_000_000;
        let all = self.user_infos(UserSelect::All).await?;
        let rows = sqlx::query("SELECT id FROM users WHERE disabled = 0 AND COALESCE(last_login_at, created_at) < $1")
            .bind(cutoff)
            .fetch_all(self.inner.db.reader())
            .await?;
        let ids: BTreeSet<String> = rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<std::result::Result<_, _>>()?;
        Ok(all
            .into_iter()
            .filter(|u| ids.contains(&u.id))
            .map(|u| InactiveUser { id: u.id, username: u.username, roles: u.roles, created_at: u.created_at, last_login_at: u.last_login_at })
            .collect())
    }

    /// For every sensitive field (and, with `personal`, every personal one), which enabled users
    /// can see it, masked or in clear, within which record scope.
    pub async fn field_exposure(&self, p: &Principal, personal: bool) -> Result<Vec<FieldExposure>> {
        self.require_users(p, "report.exposure").await?;
        let users = self.user_infos(UserSelect::All).await?;
        let mut perms = Vec::new();
        for u in users.iter().filter(|u| !u.disabled) {
            perms.push((u.username.clone(), self.permissions_of(&u.id).await?));
        }
        let schema = self.schema();
        let mut out = Vec::new();
        for obj in schema.objects() {
            for f in &obj.fields {
                let wanted = f.classification == crate::model::Classification::Sensitive || (personal && f.classification == crate::model::Classification::Personal);
                if !wanted {
                    continue;
                }
                let mut viewers = Vec::new();
                for (name, pm) in &perms {
                    let access = pm.field(obj, f);
                    if !access.can_see() || !pm.may(&obj.name, super::Action::Read) {
                        continue;
                    }
                    viewers.push(FieldViewer {
                        username: name.clone(),
                        access,
                        may_reveal: access == super::FieldAccess::Masked && pm.may_reveal(obj, f),
                        scope: pm.scope(&obj.name).unwrap_or(super::RecordScope::Own),
                    });
                }
                out.push(FieldExposure { object: obj.name.clone(), field: f.name.clone(), classification: f.classification, users: viewers });
            }
        }
        Ok(out)
    }
}
