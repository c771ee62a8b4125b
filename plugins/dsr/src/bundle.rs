//! The access-request bundle: one ZIP file a requester (or their tool) can read without capcrm.
//!
//! ```text
//! manifest.json          what the bundle is, for whom, and every other file with its SHA-256
//! records.json           every record of the person, every field in clear
//! records/<object>.csv   the same records, one CSV per object, a column per field
//! plugin-data.json       what plugins keep about the person (UTF-8 text, or base64)
//! ```
//!
//! Entries are stored uncompressed with a fixed timestamp, so the same data gives the same bytes.

use capcrm_plugin_sdk::serde_json::{self, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;

/// One record of the person, as exported.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedRecord {
    /// The object, e.g. `contact`.
    pub object: String,
    /// The record id.
    pub id: String,
    /// Field name → JSON value.
    pub fields: BTreeMap<String, Value>,
}

/// One value a plugin keeps about the person.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedValue {
    /// The plugin that keeps it.
    pub plugin: String,
    /// Its key.
    pub key: String,
    /// Its bytes.
    pub value: Vec<u8>,
}

/// What the bundle is about.
#[derive(Debug, Clone)]
pub struct BundleInfo {
    /// The request id.
    pub request: String,
    /// `gdpr`, `ccpa` or `pipl`.
    pub regime: String,
    /// The subject id.
    pub subject: String,
    /// When, as a date.
    pub generated_at: String,
}

/// A built bundle: the ZIP bytes and the file list of its manifest.
#[derive(Debug)]
pub struct Bundle {
    /// The ZIP file.
    pub zip: Vec<u8>,
    /// The manifest's file list.
    pub files: Vec<Value>,
    /// SHA-256 of the ZIP file.
    pub sha256: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A CSV cell: quoted when it holds a separator, a quote or a line break; text that a spreadsheet
/// would run as a formula is prefixed with `'`.
pub fn csv_cell(v: &Value) -> String {
    let text = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) && !matches!(v, Value::Number(_)) { format!("'{text}") } else { text };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

/// The CSV of one object's records: `id`, then every field any of them has, in name order.
pub fn csv_of(records: &[&ExportedRecord]) -> String {
    let mut columns: Vec<&str> = records.iter().flat_map(|r| r.fields.keys().map(String::as_str)).collect();
    columns.sort_unstable();
    columns.dedup();
    let mut out = String::from("id");
    for c in &columns {
        out.push(',');
        out.push_str(&csv_cell(&Value::String((*c).to_string())));
    }
    out.push_str("\r\n");
    for r in records {
        out.push_str(&csv_cell(&Value::String(r.id.clone())));
        for c in &columns {
            out.push(',');
            out.push_str(&r.fields.get(*c).map(csv_cell).unwrap_or_default());
        }
        out.push_str("\r\n");
    }
    out
}

fn stored_json(v: &ExportedValue) -> Value {
    match std::str::from_utf8(&v.value) {
        Ok(text) => match serde_json::from_str::<Value>(text) {
            Ok(parsed) => json!({"plugin": v.plugin, "key": v.key, "value": parsed}),
            Err(_) => json!({"plugin": v.plugin, "key": v.key, "text": text}),
        },
        Err(_) => json!({"plugin": v.plugin, "key": v.key, "base64": base64(&v.value)}),
    }
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Builds the bundle.
pub fn build(info: &BundleInfo, records: &[ExportedRecord], stored: &[ExportedValue]) -> Result<Bundle, String> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let as_json: Vec<Value> = records.iter().map(|r| json!({"object": r.object, "id": r.id, "fields": r.fields})).collect();
    files.push(("records.json".into(), serde_json::to_vec_pretty(&as_json).map_err(|e| e.to_string())?));
    let mut by_object: BTreeMap<&str, Vec<&ExportedRecord>> = BTreeMap::new();
    for r in records {
        by_object.entry(r.object.as_str()).or_default().push(r);
    }
    for (object, rs) in &by_object {
        files.push((format!("records/{object}.csv"), csv_of(rs).into_bytes()));
    }
    let stored: Vec<Value> = stored.iter().map(stored_json).collect();
    files.push(("plugin-data.json".into(), serde_json::to_vec_pretty(&stored).map_err(|e| e.to_string())?));

    let listed: Vec<Value> = files.iter().map(|(name, bytes)| json!({"name": name, "bytes": bytes.len(), "sha256": sha256(bytes)})).collect();
    let manifest = json!({
        "format": "capcrm-dsr-bundle",
        "version": 1,
        "request": info.request,
        "regime": info.regime,
        "subject": info.subject,
        "generated_at": info.generated_at,
        "records": records.len(),
        "plugin_values": stored.len(),
        "files": listed,
    });
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    for (name, bytes) in std::iter::once(("manifest.json".to_string(), manifest_bytes)).chain(files) {
        zip.start_file(name, options).map_err(|e| e.to_string())?;
        zip.write_all(&bytes).map_err(|e| e.to_string())?;
    }
    let zip = zip.finish().map_err(|e| e.to_string())?.into_inner();
    let sha = sha256(&zip);
    Ok(Bundle { zip, files: listed, sha256: sha })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn rec(object: &str, id: &str, fields: &[(&str, Value)]) -> ExportedRecord {
        ExportedRecord { object: object.into(), id: id.into(), fields: fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect() }
    }

    #[test]
    fn the_bundle_lists_every_file_with_its_hash_and_reads_back() {
        let info = BundleInfo { request: "dsr-1".into(), regime: "gdpr".into(), subject: "s1".into(), generated_at: "2026-12-02".into() };
        let records = vec![
            rec("contact", "c1", &[("email", json!("ada@example.com")), ("first_name", json!("Ada, \"the\" first"))]),
            rec("deal", "d1", &[("amount", json!(1200)), ("name", json!("=HYPERLINK()"))]),
        ];
        let stored = vec![ExportedValue { plugin: "dsr".into(), key: "pd/dsr-1".into(), value: br#"{"name":"Ada"}"#.to_vec() }, ExportedValue { plugin: "x".into(), key: "bin".into(), value: vec![0xff, 0, 1] }];
        let b = build(&info, &records, &stored).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(b.zip.clone())).unwrap();
        let mut names: Vec<String> = (0..archive.len()).map(|i| archive.by_index(i).unwrap().name().unwrap().to_string()).collect();
        names.sort();
        assert_eq!(names, ["manifest.json", "plugin-data.json", "records.json", "records/contact.csv", "records/deal.csv"]);
        let mut manifest = String::new();
        archive.by_name("manifest.json").unwrap().read_to_string(&mut manifest).unwrap();
        let manifest: Value = serde_json::from_str(&manifest).unwrap();
        for f in manifest["files"].as_array().unwrap() {
            let mut bytes = Vec::new();
            archive.by_name(f["name"].as_str().unwrap()).unwrap().read_to_end(&mut bytes).unwrap();
            assert_eq!(f["sha256"].as_str().unwrap(), sha256(&bytes), "{}", f["name"]);
        }
        let mut csv = String::new();
        archive.by_name("records/contact.csv").unwrap().read_to_string(&mut csv).unwrap();
        assert_eq!(csv, "id,email,first_name\r\nc1,ada@example.com,\"Ada, \"\"the\"\" first\"\r\n");
        let mut deal = String::new();
        archive.by_name("records/deal.csv").unwrap().read_to_string(&mut deal).unwrap();
        assert!(deal.contains("'=HYPERLINK()"), "formulas are defused: {deal}");
        let mut pd = String::new();
        archive.by_name("plugin-data.json").unwrap().read_to_string(&mut pd).unwrap();
        assert!(pd.contains("\"Ada\"") && pd.contains("\"base64\": \"/wAB\""), "{pd}");
        // Same data, same bytes.
        assert_eq!(build(&info, &records, &stored).unwrap().sha256, b.sha256);
    }
}
