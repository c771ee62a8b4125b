//! Crashes and key rotation under a write load lose nothing that was acknowledged.

use crate::common::*;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Starts `n` writer threads creating contacts until `stop`; returns the acknowledged (id, name)s.
fn write_load(api: &Api, n: usize, stop: Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<Vec<(String, String)>>> {
    (0..n)
        .map(|w| {
            let api = api.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("Load{w}x{i}");
                    i += 1;
                    let body = json!({"fields": {"last_name": name, "email": format!("{name}@example.com"), "phone": "+49 30 1234567"}});
                    let r = api.http.post(format!("{}/api/v1/records/contact", api.base)).bearer_auth(&api.token).json(&body).send();
                    match r {
                        Ok(r) if r.status().as_u16() == 201 => {
                            let v: serde_json::Value = r.json().unwrap();
                            acked.push((v["id"].as_str().unwrap().to_string(), name));
                        }
                        Ok(r) if r.status().is_server_error() => panic!("write failed under load: {}", r.text().unwrap_or_default()),
                        // A killed server: the connection breaks; the write was not acknowledged.
                        _ => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
                acked
            })
        })
        .collect()
}

fn check_all_readable(api: &Api, acked: &[(String, String)]) {
    for (id, name) in acked {
        let r = api.get(&format!("/api/v1/records/contact/{id}"));
        assert_eq!(r.status, 200, "acknowledged record {id} lost: {}", r.text);
        assert_eq!(r.body["fields"]["last_name"], name.as_str());
    }
}

#[test]
fn sigkill_mid_write_loses_no_acknowledged_write() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let api = srv.client();
        let stop = Arc::new(AtomicBool::new(false));
        let writers = write_load(&api, 4, stop.clone());
        std::thread::sleep(Duration::from_millis(1500));
        srv.kill();
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        let acked: Vec<(String, String)> = writers.into_iter().flat_map(|h| h.join().unwrap()).collect();
        assert!(acked.len() > 10, "the load wrote something ({})", acked.len());

        let srv = inst.start();
        let api = srv.client();
        check_all_readable(&api, &acked);
        let out = inst.cli(&["audit", "verify"]);
        assert!(out.status.success(), "chain after a crash: {}", String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn root_key_rotation_under_write_load_loses_nothing() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let api = srv.client();
        // Something to re-wrap before the load starts.
        let seeded: Vec<(String, String)> = (0..20)
            .map(|i| {
                let name = format!("Before{i}");
                let c = api.create("contact", json!({"last_name": name, "national_id": format!("ID{i}")}));
                (c["id"].as_str().unwrap().to_string(), name)
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let writers = write_load(&api, 3, stop.clone());
        std::thread::sleep(Duration::from_millis(400));
        let out = inst.cli(&["keys", "rotate"]);
        assert!(out.status.success(), "rotate: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(600));
        stop.store(true, Ordering::Relaxed);
        let mut acked: Vec<(String, String)> = Vec::new();
        for h in writers {
            match h.join() {
                Ok(a) => acked.extend(a),
                Err(_) => panic!("a writer failed ({backend:?}); server log:\n{}", srv.log()),
            }
        }
        acked.extend(seeded);
        check_all_readable(&api, &acked);

        let status = String::from_utf8(inst.cli(&["keys", "status"]).stdout).unwrap();
        assert!(status.contains("root key v1: retired, wraps 0 data keys"), "{status}");
        assert!(status.contains("root key v2: active"), "{status}");
        // A fresh process, which must read the new version from the key file.
        srv.stop();
        let srv = inst.start();
        check_all_readable(&srv.client(), &acked);
        let out = inst.cli(&["audit", "verify"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        // Rotating again works too.
        let out = inst.cli(&["keys", "rotate"]);
        assert!(out.status.success());
        check_all_readable(&srv.client(), &acked[..10]);
    }
}

#[test]
fn backup_under_write_load_restores_and_verifies() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let api = srv.client();
        let tag = format!("{}", uuid::Uuid::new_v4().simple())[..8].to_string();
        let canary = api.create("contact", canary_contact(&tag));
        let before: Vec<(String, String)> = (0..10)
            .map(|i| {
                let name = format!("Pre{i}");
                (api.create("contact", json!({"last_name": name}))["id"].as_str().unwrap().to_string(), name)
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let writers = write_load(&api, 3, stop.clone());
        std::thread::sleep(Duration::from_millis(300));
        let file = inst.dir.path().join("during-load.capbak");
        let out = inst.cli(&["backup", "--out", file.to_str().unwrap()]);
        assert!(out.status.success(), "backup: {}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        for h in writers {
            h.join().unwrap();
        }
        let bytes = std::fs::read(&file).unwrap();
        for n in canary_strings(&tag) {
            assert!(!contains_bytes(&bytes, &n), "the backup holds canary {n} in plaintext");
        }

        // Restore into a fresh target of the same kind, with the same key file.
        let target = inst.empty_like();
        let out = target.cli(&["restore", "--from", file.to_str().unwrap()]);
        assert!(out.status.success(), "restore: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let out = target.cli(&["audit", "verify"]);
        assert!(out.status.success(), "restored chain: {}", String::from_utf8_lossy(&out.stdout));
        let srv2 = target.start();
        let api2 = srv2.client();
        let r = api2.get(&format!("/api/v1/records/contact/{}", canary["id"].as_str().unwrap()));
        assert_eq!(r.body["fields"]["last_name"], format!("Canarylast{tag}"), "{}", r.text);
        check_all_readable(&api2, &before);
        // A restored copy is consistent: every record it holds reads.
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("/api/v1/records/contact?limit=200&after={a}"),
                None => "/api/v1/records/contact?limit=200".into(),
            };
            let page = api2.get(&path);
            assert_eq!(page.status, 200, "{}", page.text);
            match page.body["next"].as_str() {
                Some(n) => after = Some(n.to_string()),
                None => break,
            }
        }
        // A wrong key restores nothing.
        let other = tempfile::tempdir().unwrap();
        let wrong_key = other.path().join("wrong.key");
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new().write(true).create(true).mode(0o600).open(&wrong_key).unwrap();
            f.write_all(b"1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n").unwrap();
        }
        let out = std::process::Command::new(bin())
            .args(["--data-dir", other.path().join("x").to_str().unwrap(), "--key-file", wrong_key.to_str().unwrap(), "restore", "--from", file.to_str().unwrap()])
            .env_remove("CAPCRM_ROOT_KEY")
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(!other.path().join("x").join("capcrm.db").exists(), "nothing created with a wrong key");
    }
}
