//! A throwaway PostgreSQL cluster for tests: the distribution's binaries,
//! a temporary folder, a free loopback port, no password (`trust`), and
//! TLS with a certificate for `127.0.0.1` signed by a CA made here
//! ([`tls`]), so `sslmode` is tested against the real server.
//!
//! One cluster per test process, shared by its tests (each takes a database
//! of its own), since `initdb` takes seconds. It stops when the process
//! ends: a watcher shell kills the server once its parent is gone, as a test
//! process cannot run destructors for statics. `initdb` refuses to run as
//! root, so as root the cluster runs as the `postgres` user.
//!
//! Absent binaries skip the test with a message, unless
//! `FLOW_REQUIRE_POSTGRES=1` (set by `.ci/run`), which makes it fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct Cluster {
    port: u16,
    tls: Tls,
    _dir: tempfile::TempDir,
}

/// The cluster's TLS, as PEM files a URL's `sslrootcert` can name.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The CA that signed the server's certificate (for `127.0.0.1` only,
    /// not `localhost`, so `verify-full` to `localhost` fails on the name).
    pub ca: PathBuf,
    /// A CA that signed nothing the server has.
    pub other_ca: PathBuf,
}

/// A CA, the server's certificate and key signed by it, and another CA.
fn certificates(dir: &Path) -> Result<(Tls, PathBuf, PathBuf), String> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let e = |e: rcgen::Error| format!("rcgen: {e}");
    let ca = |name: &str| -> Result<(String, Issuer<'static, KeyPair>), String> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(e)?;
        let cert = params.self_signed(&key).map_err(e)?;
        Ok((cert.pem(), Issuer::new(params, key)))
    };
    let (ca_pem, issuer) = ca("flow test CA")?;
    let (other_pem, _) = ca("another CA")?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    params.subject_alt_names = vec![rcgen::SanType::IpAddress(std::net::IpAddr::V4(
        std::net::Ipv4Addr::LOCALHOST,
    ))];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "127.0.0.1");
    let key = KeyPair::generate().map_err(e)?;
    let cert = params.signed_by(&key, &issuer).map_err(e)?;
    let write = |name: &str, text: &str| -> Result<PathBuf, String> {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    };
    let tls = Tls {
        ca: write("ca.pem", &ca_pem)?,
        other_ca: write("other-ca.pem", &other_pem)?,
    };
    let crt = write("server.crt", &cert.pem())?;
    let key_file = write("server.key", &key.serialize_pem())?;
    // PostgreSQL refuses a key others may read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    Ok((tls, crt, key_file))
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists() && b.join("postgres").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program args` as the user who may run PostgreSQL.
fn as_owner(root: bool, program: &Path) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn start() -> Result<Cluster, String> {
    let bin = bin_dir().ok_or("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")?;
    let root = is_root();
    let dir = tempfile::Builder::new()
        .prefix("flow-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let (tls, crt, key) = certificates(dir.path())?;
    if root {
        let owned = Command::new("chown")
            .args(["postgres:", &dir.path().display().to_string()])
            .arg(&crt)
            .arg(&key)
            .status()
            .map_err(|e| e.to_string())?;
        if !owned.success() {
            return Err("cannot give the cluster folder to `postgres`".into());
        }
    }
    let init = as_owner(root, &bin.join("initdb"))
        .args(["-A", "trust", "-U", "flow", "--no-sync", "-E", "UTF8", "-D"])
        .arg(&data)
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !init.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&init.stderr)
        ));
    }
    let port = free_port()?;
    let server = format!(
        "{} -D {} -p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
        bin.join("postgres").display(),
        data.display(),
        dir.path().display(),
        crt.display(),
        key.display(),
    );
    // The watcher: the server lives while this test process does (`/proc`,
    // since the `postgres` user may not signal a root parent).
    let watcher = format!(
        "{server} >{log} 2>&1 & pid=$!; while [ -d /proc/{parent} ] && kill -0 $pid 2>/dev/null; do sleep 0.5; done; kill -INT $pid 2>/dev/null; wait $pid",
        log = dir.path().join("log").display(),
        parent = std::process::id(),
    );
    let mut sh = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "sh", "-c", &watcher]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &watcher]);
        c
    };
    sh.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start postgres: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
            return Err(format!("postgres did not start:\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let ready = as_owner(root, &bin.join("pg_isready"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "30"])
        .output();
    if !ready.map(|o| o.status.success()).unwrap_or(false) {
        return Err("postgres is not ready".into());
    }
    Ok(Cluster {
        port,
        tls,
        _dir: dir,
    })
}

fn cluster(test: &str) -> Option<&'static Cluster> {
    let required = std::env::var("FLOW_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    match CLUSTER.get_or_init(start) {
        Ok(c) => Some(c),
        Err(why) if required => panic!("FLOW_REQUIRE_POSTGRES=1 but {why}"),
        Err(why) => {
            eprintln!("skipping `{test}`: {why}");
            None
        }
    }
}

/// The cluster's CA files, or `None` as for [`database`].
#[allow(dead_code)]
pub fn tls(test: &str) -> Option<Tls> {
    cluster(test).map(|c| c.tls.clone())
}

/// A fresh, empty database's URL, or `None` (after saying why) when this
/// machine has no PostgreSQL and the test may be skipped.
pub fn database(test: &str) -> Option<String> {
    let cluster = cluster(test)?;
    let bin = bin_dir()?;
    let name = format!(
        "t{}_{}",
        NEXT_DB.fetch_add(1, Ordering::SeqCst),
        test.chars()
            .filter(char::is_ascii_alphanumeric)
            .take(40)
            .collect::<String>()
            .to_lowercase()
    );
    let made = as_owner(is_root(), &bin.join("createdb"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &cluster.port.to_string(),
            "-U",
            "flow",
        ])
        .arg(&name)
        .output();
    match made {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!("createdb {name}: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("createdb {name}: {e}"),
    }
    Some(format!(
        "postgres://flow:secret-pw@127.0.0.1:{}/{name}",
        cluster.port
    ))
}
