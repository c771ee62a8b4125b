//! capcrm: a CRM engine whose customer data is protected by construction.
//!
//! The host owns storage ([`store`]), encryption ([`crypto`]), access control ([`access`]) and the
//! audit trail ([`audit`]). Every path to customer data goes through [`access::Gate`].

pub mod access;
pub mod alerts;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod crypto;
pub mod mail;
pub mod demo;
pub mod model;
pub mod plugin;
pub mod store;
pub mod tls;
pub mod web;
