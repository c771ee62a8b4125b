//! Start-up refuses a wrong or missing root key and writes nothing; TLS; the environment key.

use crate::common::*;
use std::io::Write;

fn write_key_file(path: &std::path::Path, content: &str, mode: u32) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(path).unwrap();
    f.write_all(content.as_bytes()).unwrap();
}

fn fingerprint(inst: &Instance) -> Vec<Vec<Option<String>>> {
    inst.raw_query_strings(
        "SELECT CAST((SELECT COUNT(*) FROM audit_log) AS TEXT), CAST((SELECT COUNT(*) FROM records) AS TEXT), \
         (SELECT hash FROM audit_head), CAST((SELECT COUNT(*) FROM root_keys) AS TEXT)",
    )
}

#[test]
fn wrong_or_missing_root_key_refuses_to_start_and_writes_nothing() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let before = fingerprint(&inst);
        let db_file = inst.data_dir.join("capcrm.db");
        // Flush the WAL first, so the file holds everything and any later write would change it.
        let file_digest = |inst: &Instance| {
            inst.raw_sql("PRAGMA wal_checkpoint(TRUNCATE)");
            let bytes = std::fs::read(&db_file).unwrap();
            format!("{:x}", sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes)))
        };
        let file_before = (backend == Backend::Sqlite).then(|| file_digest(&inst));

        let wrong = inst.dir.path().join("wrong.key");
        write_key_file(&wrong, "1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0o600);
        let cases: Vec<(Vec<String>, Vec<(&str, String)>, &str)> = vec![
            (vec!["--key-file".into(), wrong.display().to_string()], vec![], "does not match this database"),
            (vec!["--key-file".into(), inst.dir.path().join("absent.key").display().to_string()], vec![], "cannot read key file"),
            (vec![], vec![("CAPCRM_ROOT_KEY", "1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into())], "does not match this database"),
            (vec![], vec![("CAPCRM_ROOT_KEY", "not a key".into())], "is not `<version>:"),
        ];
        for (args, env, expect) in cases {
            let mut cmd = std::process::Command::new(bin());
            let mut loc = inst.location_args();
            // Drop the instance's own --key-file; the case supplies the key.
            let kf = loc.iter().position(|a| a == "--key-file").unwrap();
            loc.drain(kf..kf + 2);
            cmd.args(&loc).args(&args).args(["serve", "--listen", "127.0.0.1:0"]).env_remove("CAPCRM_ROOT_KEY");
            for (k, v) in &env {
                cmd.env(k, v);
            }
            let out = cmd.output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "must refuse ({expect})");
            assert!(stderr.contains(expect), "message must say `{expect}`: {stderr}");
            assert!(!stderr.contains("AAECAwQF"), "never print key material");
        }
        // A key file others can read is refused.
        let loose = inst.dir.path().join("loose.key");
        std::fs::copy(&inst.key_file, &loose).unwrap();
        std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&loose).unwrap().permissions(), 0o644);
        std::fs::set_permissions(&loose, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        let mut loc = inst.location_args();
        let kf = loc.iter().position(|a| a == "--key-file").unwrap();
        loc[kf + 1] = loose.display().to_string();
        let out = std::process::Command::new(bin()).args(&loc).args(["serve"]).env_remove("CAPCRM_ROOT_KEY").output().unwrap();
        assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));

        assert_eq!(fingerprint(&inst), before, "nothing was written");
        if let Some(b) = file_before {
            assert_eq!(file_digest(&inst), b, "the database file is byte-for-byte unchanged");
        }

        // The right key from the environment works as well as the file.
        let key_line = std::fs::read_to_string(&inst.key_file).unwrap().lines().find(|l| !l.starts_with('#')).unwrap().to_string();
        let mut loc = inst.location_args();
        let kf = loc.iter().position(|a| a == "--key-file").unwrap();
        loc.drain(kf..kf + 2);
        let mut cmd = std::process::Command::new(bin());
        cmd.args(&loc).args(["serve", "--listen", "127.0.0.1:0"]).env("CAPCRM_ROOT_KEY", key_line);
        let srv = Server::start(cmd);
        srv.client();
    }
}

#[test]
fn uninitialised_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin())
        .args(["--data-dir", &dir.path().join("nothing").display().to_string(), "serve"])
        .env_remove("CAPCRM_ROOT_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("init"), "{stderr}");
    assert!(!dir.path().join("nothing").exists(), "serve creates nothing");
}

#[test]
fn serves_tls_with_a_self_signed_certificate() {
    let inst = Instance::new(Backend::Sqlite);
    let srv = Server::start(inst.command(&["serve", "--listen", "127.0.0.1:0", "--tls-self-signed"]));
    assert!(srv.base.starts_with("https://"), "{}", srv.base);
    let api = srv.client();
    assert_eq!(api.get("/api/v1/objects").status, 200);
    assert!(inst.data_dir.join("tls/cert.pem").exists());
}
