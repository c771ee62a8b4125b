//! Administration pages: users, teams, roles and their field-permission matrix, keys, alerts and
//! held bulk exports.

use crate::api::AppState;
use axum::Router;

/// Texts of these pages (see [`super::i18n`]).
pub static TEXTS: &[(&str, &str, &str)] = &[];

/// The routes of these pages.
pub fn routes() -> Router<AppState> {
    Router::new()
}
