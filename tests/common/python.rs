//! The real pymemcache, from PyPI, in a virtualenv under target/ that the
//! tests make on first use (or the interpreter named by PMC_PYTHON).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

static LOCK: Mutex<()> = Mutex::new(());

/// The version of pymemcache the interop tests run against.
pub const PYMEMCACHE_VERSION: &str = "4.0.0";

/// A python interpreter that can `import pymemcache`.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("PMC_PYTHON") {
        return PathBuf::from(p);
    }
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pyvenv");
    let py = venv.join("bin/python");
    let ok = |py: &PathBuf| {
        Command::new(py)
            .args([
                "-c",
                "import pymemcache, sys; sys.exit(pymemcache.__version__ != sys.argv[1])",
            ])
            .arg(PYMEMCACHE_VERSION)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ok(&py) {
        let st = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status();
        assert!(
            st.is_ok_and(|s| s.success()),
            "python3 -m venv failed (apt-get install python3-venv)"
        );
        let st = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check"])
            .arg(format!("pymemcache=={PYMEMCACHE_VERSION}"))
            .status();
        assert!(
            st.is_ok_and(|s| s.success()),
            "pip install pymemcache failed"
        );
        assert!(ok(&py), "pymemcache not importable after install");
    }
    py
}
