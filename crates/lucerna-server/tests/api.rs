//! The HTTP API of the real binary, request by request: per-line bulk
//! results with 1-based line numbers, the error statuses, search with
//! stored fields and sorting, commit, health, Prometheus metrics, and a
//! graceful SIGTERM after which a restart serves every document.

mod support;

use support::{encode, http, prom, server::Server};

fn bulk(addr: std::net::SocketAddr, path: &str, body: &str) -> http::Response {
    http::request(addr, "POST", path, body.as_bytes()).expect("bulk request")
}

#[test]
fn the_api_answers_each_request_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let server = Server::start(&data, &["--refresh-ms", "50"], &log);
    let addr = server.addr;

    // One bad line never fails the request; blank lines keep their numbers.
    let body = concat!(
        "{\"id\": 1, \"timestamp\": 10, \"body\": \"disk full on node7\"}\n",
        "\n",
        "{\"id\": \"x\"}\n",
        "not json\n",
        "{\"id\": 2, \"timestamp\": 20, \"body\": \"disk ok on node8\"}\r\n",
        "{\"timestamp\": 30, \"body\": \"no id\"}\n",
    );
    let r = bulk(addr, "/web/_bulk", body);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        (v["accepted"].as_u64(), v["rejected"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(v["durability"], "sync");
    let items = v["items"].as_array().unwrap();
    let summary: Vec<(u64, &str)> = items
        .iter()
        .map(|i| (i["line"].as_u64().unwrap(), i["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            (1, "accepted"),
            (3, "rejected"),
            (4, "rejected"),
            (5, "accepted"),
            (6, "rejected")
        ]
    );
    assert_eq!(items[0]["id"], 1);
    assert!(items[1]["reason"].as_str().unwrap().contains("field `id`"));
    assert!(items[2]["reason"]
        .as_str()
        .unwrap()
        .contains("invalid JSON"));

    // Durability per request.
    let r = bulk(
        addr,
        "/web/_bulk?durability=none",
        "{\"id\": 3, \"timestamp\": 5, \"body\": \"disk gone\"}\n",
    );
    assert_eq!(
        (r.status, r.json()["durability"].clone()),
        (200, "none".into())
    );
    let r = bulk(addr, "/web/_bulk?durability=sometimes", "");
    assert_eq!(r.status, 400, "{}", r.text());

    // Errors: an invalid tenant name, an unknown tenant.
    assert_eq!(bulk(addr, "/Web/_bulk", "").status, 400);
    assert_eq!(http::get(addr, "/nobody/_search?q=x").unwrap().status, 404);
    assert_eq!(http::get(addr, "/web/_search").unwrap().status, 400);
    assert_eq!(
        http::get(addr, "/web/_search?q=body:(").unwrap().status,
        400
    );
    assert_eq!(
        http::get(addr, "/web/_search?q=x&sort=body")
            .unwrap()
            .status,
        400
    );

    // Search: count, stored fields, the timestamp column, sorting.
    let search = |q: &str, extra: &str| {
        let path = format!("/web/_search?q={}{extra}", encode(q));
        let r = http::get(addr, &path).unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };
    let mut v = search("disk", "&k=10&sort=timestamp:asc");
    for _ in 0..100 {
        if v["count"] == 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        v = search("disk", "&k=10&sort=timestamp:asc");
    }
    assert_eq!(v["count"], 3, "{v}");
    let ts: Vec<u64> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["fields"]["timestamp"].as_u64().unwrap())
        .collect();
    assert_eq!(ts, [5, 10, 20]);
    let v = search("full AND node7", "");
    assert_eq!(v["hits"][0]["fields"]["body"], "disk full on node7");
    assert!(v["took_ms"].as_f64().is_some());

    // Commit, health, metrics.
    let r = http::request(addr, "POST", "/web/_commit", b"").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.json()["generation"].as_u64().unwrap() >= 2);
    let h = http::get(addr, "/health").unwrap();
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["tenants"]["web"]["status"], "healthy");
    let m = http::get(addr, "/metrics").unwrap();
    let f = prom::parse(&m.text()).unwrap_or_else(|e| panic!("{e}\n{}", m.text()));
    assert_eq!(
        prom::tenant_value(&f, "lucerna_bulk_lines_accepted_total", "web"),
        Some(3.0)
    );
    assert_eq!(
        prom::tenant_value(&f, "lucerna_bulk_lines_rejected_total", "web"),
        Some(3.0)
    );
    assert!(prom::tenant_value(&f, "lucerna_wal_fsyncs_total", "web").unwrap() >= 1.0);
    assert_eq!(
        prom::tenant_value(&f, "lucerna_commits_total", "web"),
        Some(1.0)
    );

    // SIGTERM: committed and closed; a restart serves every document.
    assert!(server.terminate().success());
    let server = Server::start(&data, &[], &log);
    let r = http::get(server.addr, "/web/_search?q=*").unwrap();
    assert_eq!(r.json()["count"], 3, "{}", r.text());
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("tenant committed and closed"),
        "{log_text}"
    );
}
