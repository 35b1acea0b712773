//! A real S3-compatible server for tests: `moto_server` (PyPI `moto[server]`) on
//! 127.0.0.1, killed on drop. Shared by the node's and the client's tests (the client
//! includes this file by path).
//!
//! When moto is not installed the test prints `SKIP:` and passes, unless
//! `QUORATE_REQUIRE_MOTO=1` (set by `.ci/run`, which installs it) makes that a failure.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    child: Child,
    pub port: u16,
}

/// The command that runs moto's server, if moto is installed.
fn moto_command() -> Option<Command> {
    let ok = |c: &mut Command| {
        c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ok(Command::new("moto_server").arg("--help")) {
        return Some(Command::new("moto_server"));
    }
    if ok(Command::new("python3").args(["-c", "import moto.server, flask"])) {
        let mut c = Command::new("python3");
        c.args(["-m", "moto.server"]);
        return Some(c);
    }
    None
}

/// Whether moto is available; prints SKIP (or panics under QUORATE_REQUIRE_MOTO=1) if not.
pub fn available() -> bool {
    if moto_command().is_some() {
        return true;
    }
    if std::env::var("QUORATE_REQUIRE_MOTO").as_deref() == Ok("1") {
        panic!(
            "QUORATE_REQUIRE_MOTO=1 but moto_server is missing (python3 -m pip install 'moto[server]')"
        );
    }
    use std::io::Write as _;
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIP: {test}: needs moto_server (python3 -m pip install 'moto[server]')"
    );
    false
}

/// A port that was free a moment ago (for a server started later).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral port")
}

impl Moto {
    /// Starts moto on `port` and waits (at most 60 s) until it answers. Call
    /// [`available`] first.
    pub fn start_on(port: u16) -> Moto {
        let mut cmd = moto_command().expect("moto_server (call moto::available first)");
        let child = cmd
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning moto_server");
        let m = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                && ureq::get(&m.endpoint()).call().is_ok()
            {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts moto on a free port.
    pub fn start() -> Moto {
        Moto::start_on(free_port())
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        endpoint(self.port)
    }

    /// Creates `bucket` and lets anyone read its objects (a bucket policy allowing
    /// `s3:GetObject` to `*`), as an operator serving a log from it does. moto accepts
    /// these administrative requests unsigned.
    pub fn create_public_bucket(&self, bucket: &str) {
        let base = format!("{}/{bucket}", self.endpoint());
        ureq::put(&base)
            .send_empty()
            .unwrap_or_else(|e| panic!("creating bucket {bucket}: {e}"));
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
        );
        ureq::put(&format!("{base}?policy"))
            .header("Content-Type", "application/json")
            .send(policy.as_bytes())
            .unwrap_or_else(|e| panic!("setting the policy of {bucket}: {e}"));
    }
}

/// `http://127.0.0.1:PORT`.
pub fn endpoint(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// The environment a node needs to publish to moto on `port` (moto accepts any keys).
pub fn node_env(port: u16) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT", endpoint(port)),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", "quorate-test".into()),
        ("AWS_SECRET_ACCESS_KEY", "quorate-test-secret".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
