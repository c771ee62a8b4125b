//! Demo mode: realistic records (Chinese and Western names, companies, leads, deals, activities),
//! written through the same gate as everything else, so the demo is encrypted and audited too.

pub mod generate;
pub mod plugins;

use crate::access::{Principal, WriteOptions};
use crate::app::App;
use generate::{DemoRecord, DemoRef};
use serde_json::{Map, Value};

const BATCH: usize = 500;

/// The demo's people: one per seeded role, in two sales teams.
pub const DEMO_USERS: &[(&str, &str, &[&str])] = &[
    ("li.na", "sales", &["East"]),
    ("james.smith", "sales", &["West"]),
    ("wang.fang", "manager", &["East"]),
    ("chen.jie", "support", &[]),
    ("maria.garcia", "privacy_officer", &[]),
    ("kim.auditor", "auditor", &[]),
];

/// Creates the demo's teams and people (all with `password`) and returns the sales people's ids,
/// who then own the demo's records in turn.
async fn seed_people(app: &App, system: &Principal, password: &str) -> anyhow::Result<Vec<String>> {
    for t in ["East", "West"] {
        app.gate.create_team(system, t).await?;
    }
    let mut sales = Vec::new();
    for (name, role, teams) in DEMO_USERS {
        let u = app
            .gate
            .create_user(
                system,
                &app.auth,
                crate::access::people::NewUser {
                    username: name.to_string(),
                    password: password.to_string(),
                    roles: vec![role.to_string()],
                    teams: teams.iter().map(|t| t.to_string()).collect(),
                },
            )
            .await?;
        if *role == "sales" {
            sales.push(u.id);
        }
    }
    Ok(sales)
}

/// Inserts demo people (one per seeded role, sharing `password`) and records for `contacts`
/// contacts (plus accounts, leads, deals and activities, owned in turn by the two sales people)
/// unless this database was seeded before. Returns how many records were written.
pub async fn seed(app: &App, contacts: usize, seed: u64, password: &str) -> anyhow::Result<usize> {
    let done: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'demo_seeded_at'")
        .fetch_optional(app.db.reader())
        .await?;
    if done.is_some() {
        return Ok(0);
    }
    let data = generate::generate(seed, contacts);
    let system = Principal::system("demo");
    let owners = seed_people(app, &system, password).await?;
    let records = app.gate.records(&system);
    let mut ids: std::collections::HashMap<(&'static str, usize), String> = Default::default();
    let mut total = 0;
    let groups: [(&'static str, &Vec<DemoRecord>); 5] = [
        ("account", &data.accounts),
        ("contact", &data.contacts),
        ("lead", &data.leads),
        ("deal", &data.deals),
        ("activity", &data.activities),
    ];
    for (object, list) in groups {
        for (chunk_no, chunk) in list.chunks(BATCH).enumerate() {
            let inputs: Vec<(Map<String, Value>, WriteOptions)> = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let mut fields = r.fields.clone();
                    for (name, target) in &r.refs {
                        let key = match target {
                            DemoRef::Account(i) => ("account", *i),
                            DemoRef::Contact(i) => ("contact", *i),
                            DemoRef::Lead(i) => ("lead", *i),
                            DemoRef::Deal(i) => ("deal", *i),
                        };
                        if let Some(id) = ids.get(&key) {
                            fields.insert(name.clone(), Value::String(id.clone()));
                        }
                    }
                    // Accounts are shared; the rest belongs to the sales people in turn.
                    let owner_id = (object != "account").then(|| owners[(chunk_no * BATCH + i) % owners.len()].clone());
                    (fields, WriteOptions { owner_id, ..WriteOptions::default() })
                })
                .collect();
            let new_ids = records.create_many(object, &inputs).await?;
            for (i, id) in new_ids.into_iter().enumerate() {
                ids.insert((object, chunk_no * BATCH + i), id);
            }
            total += chunk.len();
        }
    }
    let mut tx = app.db.begin_write().await?;
    sqlx::query("INSERT INTO meta (key, value) VALUES ('demo_seeded_at', $1)")
        .bind(crate::store::now_micros().to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(total)
}
