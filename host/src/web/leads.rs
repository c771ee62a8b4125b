//! Leads: the pipeline board by stage, conversion into contact, account and deal, and the public
//! lead capture form.

use crate::api::AppState;
use axum::Router;

/// Texts of these pages (see [`super::i18n`]).
pub static TEXTS: &[(&str, &str, &str)] = &[];

/// The routes of these pages.
pub fn routes() -> Router<AppState> {
    Router::new()
}
