//! Demo mode: realistic records (Chinese and Western names, companies, leads, deals, activities),
//! written through the same gate as everything else, so the demo is encrypted and audited too.

pub mod generate;

use crate::access::{Principal, WriteOptions};
use crate::app::App;
use generate::{DemoRecord, DemoRef};
use serde_json::{Map, Value};

const BATCH: usize = 500;

/// Inserts demo records for `contacts` contacts (plus accounts, leads, deals and activities) unless
/// this database was seeded before. Returns how many records were written.
pub async fn seed(app: &App, contacts: usize, seed: u64) -> anyhow::Result<usize> {
    let done: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'demo_seeded_at'")
        .fetch_optional(app.db.reader())
        .await?;
    if done.is_some() {
        return Ok(0);
    }
    let data = generate::generate(seed, contacts);
    let system = Principal::system("demo");
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
                .map(|r| {
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
                    (fields, WriteOptions::default())
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
