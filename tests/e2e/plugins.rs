//! The plugin runtime through the real binary: approval, partial grants, upgrades, revocation,
//! and a hostile-plugin suite in which each plugin tries one thing and is contained.

use crate::common::*;
use serde_json::{Value, json};
use std::path::Path;

/// The grant every test guest asks for (the suite approves it whole unless a test says otherwise).
fn manifest(name: &str, version: &str, extra_read: &[&str]) -> String {
    let mut read = vec!["\"first_name\"".to_string()];
    read.extend(extra_read.iter().map(|f| format!("\"{f}\"")));
    format!(
        r#"name = "{name}"
version = "{version}"
author = "capcrm tests"
description = "A test guest."
purpose = "Testing the sandbox"
events = ["record.created:contact"]
routes = ["GET /run public", "GET /huge-arg public", "GET /residue public"]
[access.contact]
read = [{}]
masked = ["email"]
write = ["tags"]
[storage]
quota_bytes = 4096
[limits]
memory_mb = 16
timeout_ms = 300
host_calls = 100
"#,
        read.join(", ")
    )
}

fn install(inst: &Instance, name: &str, guest: &str, version: &str, extra_read: &[&str]) -> std::process::Output {
    let m = inst.dir.path().join(format!("{name}-{version}.toml"));
    std::fs::write(&m, manifest(name, version, extra_read)).unwrap();
    inst.cli(&["plugin", "install", guest_wasm(guest).to_str().unwrap(), "--manifest", m.to_str().unwrap()])
}

fn install_approved(inst: &Instance, name: &str, guest: &str) {
    let out = install(inst, name, guest, "1.0.0", &[]);
    assert!(out.status.success(), "install {guest}: {}", String::from_utf8_lossy(&out.stderr));
    let out = inst.cli(&["plugin", "approve", name]);
    assert!(out.status.success(), "approve {guest}: {}", String::from_utf8_lossy(&out.stderr));
}

fn run(srv: &Server, name: &str, query: &str) -> Reply {
    let http = reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(60)).build().unwrap();
    let r = http.get(format!("{}/plugins/{name}/run{query}", srv.base)).send().unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), text }
}

fn seed(api: &Api) -> Vec<String> {
    (0..3)
        .map(|i| {
            api.create("contact", json!({"first_name": format!("Ada{i}"), "last_name": "Lovelace", "email": format!("ada{i}@example.com"), "national_id": format!("NID{i}")}))["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn audit(api: &Api, query: &str) -> Vec<Value> {
    api.get(&format!("/api/v1/audit?limit=1000&{query}")).body["entries"].as_array().cloned().unwrap_or_default()
}

fn chain_verifies(inst: &Instance) {
    let out = inst.cli(&["audit", "verify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn approve_part_upgrade_and_revoke() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let out = install(&inst, "reader", "guest-reader", "1.0.0", &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let shown = String::from_utf8(inst.cli(&["plugin", "show", "reader"]).stdout).unwrap();
        for cap in ["read:contact.first_name", "masked:contact.email", "write:contact.tags", "route:GET /run public", "storage"] {
            assert!(shown.contains(cap), "show lists {cap}: {shown}");
        }
        assert!(shown.contains("pending"));
        let srv = inst.start();
        let api = srv.client();
        let ids = seed(&api);
        assert_eq!(run(&srv, "reader", "").status, 404, "a pending plugin does not run");

        // Approve everything but the email.
        let r = api.post("/api/v1/plugins/reader/approve", &json!({"deny": ["masked:contact.email"]}));
        assert_eq!(r.status, 200, "{}", r.text);
        let r = run(&srv, "reader", &format!("?id={}", ids[0]));
        assert_eq!(r.status, 200, "{}", r.text);
        let fields = r.body["record"]["fields"].as_object().unwrap();
        // Granted: first_name (read) and tags (write; set once the plugin's event handler ran, which
        // may or may not have happened yet). The denied email never appears.
        assert!(fields.keys().all(|k| k == "first_name" || k == "tags"), "exactly the approved fields: {}", r.text);
        assert_eq!(fields["first_name"], "Ada0");

        // An upgrade that asks for more waits; the approved version keeps running.
        let out = install(&inst, "reader", "guest-reader", "1.1.0", &["national_id"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let info = api.get("/api/v1/plugins/reader").body;
        assert_eq!(info["active_version"], "1.0.0");
        let v11 = info["versions"].as_array().unwrap().iter().find(|v| v["version"] == "1.1.0").unwrap().clone();
        assert_eq!(v11["status"], "pending");
        assert!(v11["adds"].as_array().unwrap().contains(&json!("read:contact.national_id")), "{v11}");
        let r = run(&srv, "reader", &format!("?id={}", ids[0]));
        assert_eq!(r.status, 200);
        assert!(r.body["record"]["fields"].get("national_id").is_none());
        // Approving the upgrade makes it run with its grant.
        let r = api.post("/api/v1/plugins/reader/approve", &json!({"version": "1.1.0", "deny": ["masked:contact.email"]}));
        assert_eq!(r.status, 200, "{}", r.text);
        let r = run(&srv, "reader", &format!("?id={}", ids[0]));
        assert_eq!(r.body["record"]["fields"]["national_id"], "NID0", "{}", r.text);

        // The plugin logged the first name it read; the host's log (at debug level) has only
        // the fact that it logged a line.
        assert!(srv.log().contains("plugin log line"), "the plugin's log call reached the host");
        assert!(!srv.log().contains("Ada0"), "a plugin's log text never reaches the host log");

        // Revoke: the next call is refused.
        assert_eq!(api.post("/api/v1/plugins/reader/revoke", &json!({})).status, 200);
        let r = run(&srv, "reader", "");
        assert_eq!(r.status, 404, "{}", r.text);
        let plugin_reads = audit(&api, "action=read").into_iter().filter(|e| e["actor_kind"] == "plugin").count();
        assert!(plugin_reads >= 2, "plugin reads are audited under the plugin's name");
        assert!(!audit(&api, "action=plugin.approve").is_empty());
        assert!(!audit(&api, "action=plugin.revoke").is_empty());
        chain_verifies(&inst);
    }
}

#[test]
fn install_refuses_bad_manifests_and_components() {
    let inst = Instance::new(Backend::Sqlite);
    let m = inst.dir.path().join("bad.toml");
    std::fs::write(&m, manifest("bad", "1.0.0", &["shoe_size"])).unwrap();
    let out = inst.cli(&["plugin", "install", guest_wasm("guest-reader").to_str().unwrap(), "--manifest", m.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `shoe_size`"));
    std::fs::write(&m, manifest("bad", "1.0.0", &[]).replace("[access.contact]", "[access.starship]")).unwrap();
    let out = inst.cli(&["plugin", "install", guest_wasm("guest-reader").to_str().unwrap(), "--manifest", m.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown object `starship`"));
    let junk = inst.dir.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm not really").unwrap();
    std::fs::write(&m, manifest("bad", "1.0.0", &[])).unwrap();
    let out = inst.cli(&["plugin", "install", junk.to_str().unwrap(), "--manifest", m.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid WebAssembly component"));
    let out = inst.cli(&["plugin", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty(), "nothing was installed");
}

/// Runs one hostile guest; returns its reply after checking that the host still serves.
fn hostile(inst: &Instance, srv: &Server, api: &Api, guest: &str, query: &str) -> Reply {
    let name = guest.replace("guest-", "").replace('-', "_");
    install_approved(inst, &name, guest);
    let started = std::time::Instant::now();
    let r = run(srv, &name, query);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{guest} was stopped in time");
    // The host keeps serving others.
    assert_eq!(api.get("/api/v1/records/contact?limit=1").status, 200, "host serves after {guest}");
    r
}

fn denied_by(api: &Api, plugin: &str) -> usize {
    audit(api, "outcome=denied").iter().filter(|e| e["actor"].as_str().unwrap_or("").starts_with(&format!("{plugin}@"))).count()
}

fn failed_by(api: &Api, plugin: &str) -> Vec<Value> {
    audit(api, "outcome=failed").into_iter().filter(|e| e["actor"].as_str().unwrap_or("").starts_with(&format!("{plugin}@"))).collect()
}

#[test]
fn hostile_plugins_are_contained() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let api = srv.client();
        let ids = seed(&api);

        // Fields it was not granted: filters on them are refused, reads do not carry them.
        let r = hostile(&inst, &srv, &api, "guest-field-thief", &format!("?id={}", ids[0]));
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.body["leaked"].as_object().map(|m| m.is_empty()).unwrap_or(true), "{}", r.text);
        assert!(r.text.contains("AccessDenied"), "{}", r.text);
        assert!(!r.text.contains("Lovelace") && !r.text.contains("NID0"), "{}", r.text);
        assert!(denied_by(&api, "field_thief") >= 2);

        // Writes to read-only fields and to objects it was not granted.
        let r = hostile(&inst, &srv, &api, "guest-writer-thief", &format!("?id={}", ids[0]));
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.body["succeeded"].as_array().unwrap().is_empty(), "{}", r.text);
        assert_eq!(api.get(&format!("/api/v1/records/contact/{}", ids[0])).body["fields"]["first_name"], "Ada0");
        assert!(denied_by(&api, "writer_thief") >= 3);

        // Other objects.
        let r = hostile(&inst, &srv, &api, "guest-object-hopper", "");
        assert!(r.text.contains("AccessDenied"), "{}", r.text);
        assert!(denied_by(&api, "object_hopper") >= 2);

        // A record id it was never handed.
        let r = hostile(&inst, &srv, &api, "guest-id-guesser", &format!("?id={}", ids[1]));
        assert!(r.body["succeeded"].as_array().unwrap().is_empty(), "{}", r.text);
        assert!(r.text.contains("AccessDenied"), "{}", r.text);
        assert!(denied_by(&api, "id_guesser") >= 1);

        // Runaway loop, unbounded allocation and recursion: stopped, audited, nothing kept.
        for (guest, why) in [("guest-loop", "deadline"), ("guest-alloc", "memory"), ("guest-recurse", "stack overflow")] {
            let r = hostile(&inst, &srv, &api, guest, "");
            assert_eq!(r.status, 502, "{guest}: {}", r.text);
            let name = guest.replace("guest-", "");
            let failed = failed_by(&api, &name);
            assert!(!failed.is_empty(), "{guest} failure is audited");
            assert!(failed[0]["detail"].as_str().unwrap_or("").contains(why), "{guest}: {:?}", failed[0]);
        }

        // A huge return value and a huge argument.
        let r = hostile(&inst, &srv, &api, "guest-huge-value", "");
        assert_eq!(r.status, 502, "{}", r.text.chars().take(300).collect::<String>());
        let http = reqwest::blocking::Client::new();
        let r2 = http.get(format!("{}/plugins/huge_value/huge-arg", srv.base)).send().unwrap();
        assert!(r2.status().as_u16() >= 400 || r2.text().unwrap().contains("QuotaExceeded"));

        // Calling the host in a tight loop hits the host-call cap.
        let r = hostile(&inst, &srv, &api, "guest-host-spam", "");
        assert!(r.status == 502 || r.text.contains("QuotaExceeded"), "{}", r.text);

        // A trap after three writes rolls all three back.
        let r = hostile(&inst, &srv, &api, "guest-trap-midway", "");
        assert_eq!(r.status, 502, "{}", r.text);
        for id in &ids {
            let rec = api.get(&format!("/api/v1/records/contact/{id}")).body;
            assert!(rec["fields"].get("tags").is_none(), "write rolled back: {rec}");
        }
        assert!(!failed_by(&api, "trap_midway").is_empty());

        // WASI filesystem and sockets: refused at install, or denied when tried.
        let m = inst.dir.path().join("wasi.toml");
        std::fs::write(&m, manifest("wasi_fs", "1.0.0", &[])).unwrap();
        let out = inst.cli(&["plugin", "install", guest_wasm("guest-wasi-fs").to_str().unwrap(), "--manifest", m.to_str().unwrap()]);
        if out.status.success() {
            inst.cli(&["plugin", "approve", "wasi_fs"]);
            let r = run(&srv, "wasi_fs", "");
            assert!(!r.text.contains("root:"), "no file contents: {}", r.text);
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("wasi:filesystem") || err.contains("wasi:sockets"), "{err}");
        }

        // The well-behaved plugin still works, and the chain verifies.
        install_approved(&inst, "reader", "guest-reader");
        assert_eq!(run(&srv, "reader", &format!("?id={}", ids[2])).status, 200);
        // Nothing of one invocation survives into the next (fresh instance, memory reset).
        let http = reqwest::blocking::Client::new();
        for _ in 0..5 {
            let r: Value = http.get(format!("{}/plugins/reader/residue", srv.base)).send().unwrap().json().unwrap();
            assert_eq!(r, json!({"calls": 1, "residue": false}), "state leaked between invocations");
        }
        drop(srv);
        chain_verifies(&inst);
        let _ = Path::new("");
    }
}

#[test]
fn events_survive_a_crash_and_failures_dead_letter() {
    for backend in backends() {
        let inst = Instance::new(backend);
        install_approved(&inst, "reader", "guest-reader");
        install_approved(&inst, "trap_midway", "guest-trap-midway");
        let start = |inst: &Instance| {
            let mut cmd = inst.command(&["serve", "--listen", "127.0.0.1:0"]);
            cmd.env("CAPCRM_EVENT_RETRY_BASE_MS", "50");
            Server::start(cmd)
        };
        let srv = start(&inst);
        let api = srv.client();
        let ids: Vec<String> = (0..15)
            .map(|i| api.create("contact", json!({"first_name": format!("Ev{i}"), "last_name": "Event"}))["id"].as_str().unwrap().to_string())
            .collect();
        // Killed before the dispatcher can have delivered everything.
        srv.kill();
        let srv = start(&inst);
        let api = srv.client();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let seen = ids
                .iter()
                .filter(|id| api.get(&format!("/api/v1/records/contact/{id}")).body["fields"]["tags"] == json!(["seen"]))
                .count();
            if seen == ids.len() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "only {seen} of {} events were delivered after the crash", ids.len());
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        // The trapping subscriber's deliveries end in the dead-letter list after their retries.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let dead = loop {
            let d = api.get("/api/v1/plugins/trap_midway/dead-letters").body.as_array().cloned().unwrap_or_default();
            if d.len() == ids.len() {
                break d;
            }
            assert!(std::time::Instant::now() < deadline, "dead letters: {}", d.len());
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        assert_eq!(dead[0]["attempts"], 5);
        assert!(dead[0]["last_error"].as_str().unwrap().contains("unreachable"), "{}", dead[0]);
        // The rolled-back writes of the trapping plugin left nothing behind.
        assert_eq!(api.get(&format!("/api/v1/records/contact/{}", ids[0])).body["fields"]["tags"], json!(["seen"]));
        let r = api.post("/api/v1/plugins/trap_midway/dead-letters/replay", &json!({"event_id": dead[0]["event"]["id"]}));
        assert_eq!(r.body["requeued"], 1, "{}", r.text);
        let r = api.get("/api/v1/plugins/trap_midway/dead-letters");
        assert_eq!(r.body.as_array().unwrap().len(), ids.len() - 1);
        drop(srv);
        chain_verifies(&inst);
    }
}

/// `examples/hello-plugin` as its README tells an author to use it.
#[test]
fn hello_example_follows_its_readme() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let example = root.join("examples/hello-plugin");
    let out = nested_cargo(&example, &["build", "--release", "--locked", "--target", "wasm32-wasip2"]);
    assert!(out.status.success(), "build: {}", String::from_utf8_lossy(&out.stderr));
    let out = nested_cargo(&example, &["test", "--locked"]);
    assert!(out.status.success(), "cargo test: {}", String::from_utf8_lossy(&out.stderr));
    let wasm = example.join("target/wasm32-wasip2/release/hello_plugin.wasm");
    let out = std::process::Command::new(bin())
        .current_dir(&example)
        .args(["plugin", "test", "--wasm", wasm.to_str().unwrap(), "--manifest", "plugin.toml", "--fixtures", "fixtures.json"])
        .args(["--event", "record.created:contact:0192f1c4-7b3a-7c41-9a55-3e1f2b6d8a01", "--request", "GET /hello"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "plugin test: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("read          contact/0192f1c4-7b3a-7c41-9a55-3e1f2b6d8a01 first_name"), "{stdout}");
    assert!(stdout.contains("read masked   contact/0192f1c4-7b3a-7c41-9a55-3e1f2b6d8a01 email"), "{stdout}");
    assert!(stdout.contains("{\"greeted\":1}"), "{stdout}");
    assert!(stdout.contains("2 passed, 0 failed"), "{stdout}");
    assert!(!stdout.contains("Ada") && !stdout.contains("ada@example.com"), "names only, never values: {stdout}");

    // The harness fails on a denial nobody expected, and passes when it is expected.
    let thief = guest_wasm("guest-field-thief");
    let m = tempfile::tempdir().unwrap();
    let mf = m.path().join("m.toml");
    std::fs::write(&mf, manifest("thief", "1.0.0", &[])).unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(bin())
            .current_dir(&example)
            .args(["plugin", "test", "--wasm", thief.to_str().unwrap(), "--manifest", mf.to_str().unwrap(), "--fixtures", "fixtures.json", "--request", "GET /run"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("unexpected denial"));
    let out = run(&["--expect-denied", "contact.last_name", "--expect-denied", "contact.national_id"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let out = run(&["--expect-denied", "contact.last_name", "--expect-denied", "contact.national_id", "--expect-denied", "contact.birthday"]);
    assert_eq!(out.status.code(), Some(1), "an expected denial that did not happen fails");

    // And it installs and runs in a real host as the README says.
    let inst = Instance::new(Backend::Sqlite);
    let out = inst.cli(&["plugin", "install", wasm.to_str().unwrap(), "--manifest", example.join("plugin.toml").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(inst.cli(&["plugin", "approve", "hello"]).status.success());
    let srv = inst.start();
    let api = srv.client();
    api.create("contact", json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"}));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = api.get("/plugins/hello/hello");
        if r.body["greeted"] == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the event never reached the plugin: {}", r.text);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn preview_shows_what_would_cross_and_keeps_nothing() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let out = install(&inst, "reader", "guest-reader", "1.0.0", &[]);
        assert!(out.status.success());
        let srv = inst.start();
        let api = srv.client();
        let ids = seed(&api);
        let r = api.post(
            "/api/v1/plugins/reader/preview",
            &json!({"deny": ["masked:contact.email"], "requests": [format!("GET /run?id={}", ids[0])], "events": [format!("record.created:contact:{}", ids[1])]}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let runs = r.body.as_array().unwrap();
        let all: Vec<String> = runs.iter().flat_map(|r| r["crossed"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string())).collect();
        assert!(all.iter().any(|l| l.starts_with("read") && l.contains(&ids[0]) && l.ends_with("first_name")), "{all:?}");
        assert!(!all.iter().any(|l| l.ends_with(" email")), "the denied field does not cross: {all:?}");
        assert!(all.iter().any(|l| l.starts_with("write") && l.contains(&ids[1]) && l.ends_with("tags")), "{all:?}");
        assert!(!r.text.contains("Ada"), "names and ids only: {}", r.text);
        // Nothing was kept, nothing was approved.
        assert!(api.get(&format!("/api/v1/records/contact/{}", ids[1])).body["fields"].get("tags").is_none());
        assert_eq!(api.get("/api/v1/plugins/reader").body["versions"][0]["status"], "pending");
        assert_eq!(run(&srv, "reader", "").status, 404);
        assert!(!audit(&api, "action=plugin.preview").is_empty(), "previews are audited");
        drop(srv);
        chain_verifies(&inst);
    }
}

#[test]
fn granted_schedules_run_and_denied_ones_do_not() {
    for backend in backends() {
        let inst = Instance::new(backend);
        for (name, deny) in [("sched_on", None), ("sched_off", Some("schedule:nightly"))] {
            let m = inst.dir.path().join(format!("{name}.toml"));
            let text = manifest(name, "1.0.0", &[]).replace(
                "routes = [",
                "schedules = [{ name = \"nightly\", every_minutes = 1440 }]\nroutes = [",
            );
            std::fs::write(&m, text).unwrap();
            let out = inst.cli(&["plugin", "install", guest_wasm("guest-reader").to_str().unwrap(), "--manifest", m.to_str().unwrap()]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let mut args = vec!["plugin", "approve", name];
            if let Some(d) = deny {
                args.extend(["--deny", d]);
            }
            assert!(inst.cli(&args).status.success());
        }
        let srv = inst.start();
        let api = srv.client();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let jobs = loop {
            let j = audit(&api, "action=plugin.job");
            if !j.is_empty() {
                break j;
            }
            assert!(std::time::Instant::now() < deadline, "the granted schedule never ran");
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        // The test guest has no job of that name: its run is recorded as a failure, once (the next
        // run is a day away), and only for the plugin that was granted the schedule.
        std::thread::sleep(std::time::Duration::from_millis(500));
        let jobs_now = audit(&api, "action=plugin.job");
        assert_eq!(jobs_now.len(), 1, "{jobs_now:?}");
        assert!(jobs[0]["actor"].as_str().unwrap().starts_with("sched_on@"), "{:?}", jobs[0]);
        assert_eq!(jobs[0]["outcome"], "failed");
    }
}

/// Limits are proven, not declared: the administrator's maxima refuse installs that ask for more
/// and cap plugins already running; per-plugin overrides replace the manifest's limits within them.
#[test]
fn limit_maxima_and_overrides_bind() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let out = inst.cli(&["plugin", "maxima", "--timeout-ms", "200"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("timeout_ms 200"));
        // The test manifests ask for 300 ms.
        let out = install(&inst, "spin", "guest-loop", "1.0.0", &[]);
        assert!(!out.status.success(), "a manifest above the maxima is refused");
        assert!(String::from_utf8_lossy(&out.stderr).contains("limits.timeout_ms must be 1 to 200"), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(inst.cli(&["plugin", "maxima", "--timeout-ms", "5000"]).status.success());
        install_approved(&inst, "spin", "guest-loop");
        install_approved(&inst, "host_spam", "guest-host-spam");
        let out = inst.cli(&["plugin", "limits", "spin", "--timeout-ms", "6000"]);
        assert!(!out.status.success(), "an override above the maxima is refused");
        assert!(String::from_utf8_lossy(&out.stderr).contains("1 to 5000"), "{}", String::from_utf8_lossy(&out.stderr));
        let out = inst.cli(&["plugin", "limits", "spin", "--timeout-ms", "3000"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("timeout_ms 3000"), "{}", String::from_utf8_lossy(&out.stdout));

        let srv = inst.start();
        let api = srv.client();
        // The host-call cap, overridden to 7: the eighth call is refused with a value...
        let r = api.send("PUT", "/api/v1/plugins/host_spam/limits", Some(&json!({"host_calls": 7})));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["limits"]["host_calls"], 7, "{}", r.text);
        let r = run(&srv, "host_spam", "?via=storage");
        assert_eq!(r.body["calls"], 7, "{}", r.text);
        assert!(r.text.contains("QuotaExceeded"), "{}", r.text);
        // ...and a host function that cannot return an error traps at the cap.
        let r = run(&srv, "host_spam", "");
        assert_eq!(r.status, 502, "{}", r.text);
        let failed = failed_by(&api, "host_spam");
        assert!(failed[0]["detail"].as_str().unwrap_or("").contains("host-call limit"), "{:?}", failed[0]);

        // Maxima lowered below a running plugin's override cap it from its next call.
        let low = json!({"memory_mb": 64, "timeout_ms": 100, "host_calls": 10000, "storage_bytes": 67108864});
        let r = api.send("PUT", "/api/v1/plugin-maxima", Some(&low));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(api.get("/api/v1/plugins/spin").body["limits"]["timeout_ms"], 100);
        let started = std::time::Instant::now();
        let r = run(&srv, "spin", "");
        assert_eq!(r.status, 502, "{}", r.text);
        assert!(started.elapsed() < std::time::Duration::from_millis(2500), "stopped by the 100 ms maximum, not the 3000 ms override");
        assert!(failed_by(&api, "spin")[0]["detail"].as_str().unwrap_or("").contains("deadline"));

        // Bad maxima are refused and change nothing.
        let r = api.send("PUT", "/api/v1/plugin-maxima", Some(&json!({"memory_mb": 1000, "timeout_ms": 100, "host_calls": 1, "storage_bytes": 1})));
        assert_eq!(r.status, 422, "{}", r.text);
        let r = api.send("PUT", "/api/v1/plugin-maxima", Some(&json!({"memory_mb": 8, "timeout_ms": 100, "host_calls": 1, "storage_bytes": 1, "fuel": 9})));
        assert_eq!(r.status, 422, "{}", r.text);
        assert!(r.text.contains("unknown field `fuel`"), "{}", r.text);
        assert_eq!(api.get("/api/v1/plugin-maxima").body, low);
        assert!(audit(&api, "action=plugin.maxima").len() >= 3);
        assert!(!audit(&api, "action=plugin.limits").is_empty());
        drop(srv);
        chain_verifies(&inst);
    }
}

/// A component built against the frozen contract 0.1.0 loads on this host and is granted and
/// denied exactly as before: contracts only grow, and plugins in the field keep working.
#[test]
fn a_plugin_built_for_contract_0_1_0_still_runs() {
    let inst = Instance::new(Backend::Sqlite);
    let m = inst.dir.path().join("v010.toml");
    let text = manifest("v010", "1.0.0", &[]).replace(
        r#"routes = ["GET /run public", "GET /huge-arg public", "GET /residue public"]"#,
        r#"routes = ["GET /count public", "GET /note public"]"#,
    );
    std::fs::write(&m, text).unwrap();
    let out = inst.cli(&["plugin", "install", guest_wasm("guest-v010").to_str().unwrap(), "--manifest", m.to_str().unwrap()]);
    assert!(out.status.success(), "install: {}", String::from_utf8_lossy(&out.stderr));
    assert!(inst.cli(&["plugin", "approve", "v010", "--deny", "read:contact.first_name"]).status.success());
    let mut cmd = inst.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("CAPCRM_ALERT_TICK_MS", "200");
    let srv = Server::start(cmd);
    let api = srv.client();
    seed(&api);
    // A plugin's notice raises an alert when its action is watched.
    let mut rules = api.get("/api/v1/alert-rules").body;
    assert_eq!(rules["watch_actions"][0], "plugin.note.dsr.reminder", "DSR reminders are watched by default: {rules}");
    rules["watch_actions"] = json!(["plugin.note.v010.note"]);
    let r = api.send("PUT", "/api/v1/alert-rules", Some(&rules));
    assert_eq!(r.status, 200, "{}", r.text);
    let http = reqwest::blocking::Client::new();
    let r = http.get(format!("{}/plugins/v010/count", srv.base)).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().unwrap();
    assert_eq!(body["listed"], 3, "{body}");
    assert_eq!(body["granted"], json!(["email", "tags"]), "the denied field stays denied: {body}");
    let r = http.get(format!("{}/plugins/v010/note", srv.base)).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let notes = api.get("/api/v1/audit?action=plugin.note.v010.note&limit=5").body["entries"].as_array().cloned().unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let alerts = api.get("/api/v1/alerts").body;
        let watched: Vec<&Value> = alerts.as_array().unwrap().iter().filter(|a| a["rule"] == "watched_action").collect();
        if let Some(a) = watched.first() {
            assert!(a["summary"].as_str().unwrap().contains("built against 0.1.0"), "{a}");
            assert_eq!(watched.len(), 1);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no alert for the watched note: {alerts}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Each first-party plugin's manifest asks only for fields its code names: a field granted but
/// never used is access nobody needs. (Using a field the manifest does not grant fails at run time
/// with access denied, which the plugins' own end-to-end tests would show.)
#[test]
fn first_party_manifests_ask_for_no_field_they_do_not_use() {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("plugins");
    let mut checked = 0;
    for name in ["dsr", "leads", "consent", "retention"] {
        let dir = plugins.join(name);
        let Ok(text) = std::fs::read_to_string(dir.join("plugin.toml")) else { continue };
        let manifest: toml::Value = toml::from_str(&text).unwrap();
        let mut source = String::new();
        for f in files_under(&dir.join("src")) {
            if f.extension().is_some_and(|e| e == "rs") {
                source.push_str(&std::fs::read_to_string(&f).unwrap());
            }
        }
        let access = manifest.get("access").and_then(|a| a.as_table()).cloned().unwrap_or_default();
        for (object, grant) in access {
            for level in ["read", "masked", "write"] {
                for field in grant.get(level).and_then(|l| l.as_array()).cloned().unwrap_or_default() {
                    let field = field.as_str().unwrap();
                    assert!(source.contains(&format!("\"{field}\"")), "{name} asks to {level} {object}.{field} but its code never names it");
                    checked += 1;
                }
            }
            if grant.get("assign").and_then(|c| c.as_bool()) == Some(true) {
                assert!(source.contains(".assign("), "{name} asks to assign {object} records but never does");
            }
            if grant.get("create").and_then(|c| c.as_bool()) == Some(true) {
                assert!(source.contains(&format!("\"{object}\"")), "{name} asks to create {object} records but never opens {object}");
            }
        }
        for op in manifest.get("subjects").and_then(|s| s.as_array()).cloned().unwrap_or_default() {
            let call = match op.as_str().unwrap() {
                "find" => "subjects::find",
                "export" => "subjects::export_",
                "erase" => "subjects::erase",
                "hold" => "subjects::place_hold",
                other => panic!("{name}: unknown subject operation {other}"),
            };
            assert!(source.contains(call), "{name} asks for subject:{op} but never calls {call}");
        }
    }
    assert!(checked >= 4, "the retention plugin alone names four fields");
}
