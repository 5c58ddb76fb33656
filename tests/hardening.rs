//! Fault paths the client must survive without talking nonsense: here, a
//! TCP connection to itself. The test runs `pmc` in a network namespace of
//! its own (`unshare -n`, as root) whose ephemeral port range is the one
//! port the client connects to, so the kernel's simultaneous open joins the
//! socket to itself on the first try.

use std::process::Command;

#[test]
fn a_connection_to_itself_is_refused() {
    let port = 40000;
    let script = format!(
        "ip link set lo up && echo '{port} {port}' > /proc/sys/net/ipv4/ip_local_port_range \
         && exec \"$PMC\" -s 127.0.0.1:{port} --timeout 2 get k"
    );
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .env("PMC", env!("CARGO_BIN_EXE_pmc"))
        .output()
        .expect("unshare (util-linux) runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("unshare failed") && !stderr.contains("Operation not permitted"),
        "this test needs root for a network namespace: {stderr}"
    );
    // Exit 3: a network error, the connection refused; not 4 (the client
    // reading its own "get k" back as a reply it cannot parse).
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    assert!(stderr.contains("connected to itself"), "stderr: {stderr}");
}
