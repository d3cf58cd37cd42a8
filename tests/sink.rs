//! The sink, served for real on loopback: signature checks, exact
//! duplicates, programmed answers, the control API, and bad input.

use std::time::{Duration, Instant};

use loadcheck::plan::SinkConfig;
use loadcheck::plan::parse_sink;
use loadcheck::signing::{self, HeaderList, Message, Negative, SchemeConfig, SchemeKind};
use loadcheck::sink::{RunningSink, start};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn config(text: &str) -> SinkConfig {
    parse_sink(
        std::path::Path::new("sink.toml"),
        text,
        Some("127.0.0.1:0".parse().unwrap()),
    )
    .unwrap()
}

fn verified(text: &str) -> SinkConfig {
    let mut cfg = config(text);
    cfg.signing = Some(loadcheck::plan::Signing {
        scheme: SchemeKind::StandardWebhooks,
        secret_env: vec!["WH".into()],
        secrets: vec![SECRET.into()],
        tolerance: Duration::from_secs(300),
        id: None,
        custom: None,
    });
    cfg
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// POSTs a Standard Webhooks delivery, signed as `negative` says.
async fn post_signed(sink: &RunningSink, path: &str, id: &str, body: &str, negative: Option<Negative>) -> u16 {
    let cfg = SchemeConfig::new(SchemeKind::StandardWebhooks, vec![SECRET.into()]);
    let scheme = signing::build(&cfg).unwrap();
    let wrong = signing::build_wrong_key(&cfg).unwrap();
    let msg = Message {
        method: "POST",
        path,
        query: "",
        body: body.as_bytes(),
        timestamp: now(),
        id,
    };
    let mut headers: HeaderList = Vec::new();
    let sent = match negative {
        None => {
            scheme.sign(&msg, &mut headers);
            bytes::Bytes::copy_from_slice(body.as_bytes())
        }
        Some(n) => signing::sign_negative(&*scheme, &*wrong, &msg, n, &mut headers),
    };
    let mut req = client()
        .post(format!("http://{}{path}", sink.addr))
        .header("content-type", "application/json")
        .body(sent);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn signatures_are_verified_and_every_bad_one_is_refused_and_counted() {
    let sink = start(&verified(""), Instant::now()).await.unwrap();
    assert_eq!(post_signed(&sink, "/hooks", "msg_1", "{\"a\":1}", None).await, 200);
    for (i, n) in [Negative::StaleTimestamp, Negative::WrongKey, Negative::TamperedBody]
        .into_iter()
        .enumerate()
    {
        let status = post_signed(&sink, "/hooks", &format!("msg_n{i}"), "{\"a\":1}", Some(n)).await;
        assert_eq!(status, 401, "{n:?}");
    }
    // No signature headers at all.
    let resp = client()
        .post(format!("http://{}/hooks", sink.addr))
        .header("webhook-id", "msg_x")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let s = sink.sink.stats();
    assert_eq!(
        (s.signatures.valid, s.signatures.invalid, s.signatures.missing),
        (1, 3, 1)
    );
    assert_eq!(s.accepted, 1);
    assert_eq!(s.signatures.rate, Some(0.2));
    sink.stop().await;
}

#[tokio::test]
async fn duplicates_are_found_exactly_and_refused_posts_are_not_duplicates() {
    let sink = start(
        &config("[[route]]\npath = \"/hooks\"\nfail_times = 1\n"),
        Instant::now(),
    )
    .await
    .unwrap();
    let post = |id: &'static str| {
        let url = format!("http://{}/hooks", sink.addr);
        async move {
            client()
                .post(url)
                .header("webhook-id", id)
                .body("{}")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The first POST fails as programmed; its retry is not a duplicate.
    assert_eq!(post("e1").await, 500);
    assert_eq!(post("e1").await, 200);
    assert_eq!(post("e2").await, 200);
    assert_eq!(post("e2").await, 200);
    assert_eq!(post("e2").await, 200);
    let s = sink.sink.stats();
    assert_eq!((s.accepted, s.failed, s.duplicates, s.ids), (4, 1, 2, 2));
    sink.stop().await;
}

#[tokio::test]
async fn programmed_answers_statuses_retry_after_resets_hangs_and_latency() {
    let sink = start(
        &config(
            r#"
            [[route]]
            path = "/every3"
            fail_every = 3
            fail_status = 503
            retry_after = 7
            [[route]]
            path = "/reset"
            reset = true
            [[route]]
            path = "/hang"
            hang = "300ms"
            [[route]]
            path = "/slow/*"
            latency = "120ms"
            "#,
        ),
        Instant::now(),
    )
    .await
    .unwrap();
    let c = client();
    let url = |p: &str| format!("http://{}{p}", sink.addr);
    let mut statuses = Vec::new();
    for i in 0..6 {
        let r = c
            .post(url("/every3"))
            .header("webhook-id", format!("e{i}"))
            .send()
            .await
            .unwrap();
        if r.status().as_u16() == 503 {
            assert_eq!(r.headers()["retry-after"], "7");
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 503, 200, 200, 503]);
    let err = c
        .post(url("/reset"))
        .header("webhook-id", "r")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.is_request() || err.is_connect() || err.to_string().contains("error"),
        "{err}"
    );
    let t = Instant::now();
    let hung = c.post(url("/hang")).header("webhook-id", "h").send().await;
    assert!(hung.is_err(), "a hang ends in a reset, not an answer");
    assert!(t.elapsed() >= Duration::from_millis(290), "{:?}", t.elapsed());
    let t = Instant::now();
    let r = c.post(url("/slow/a")).header("webhook-id", "s").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(t.elapsed() >= Duration::from_millis(115), "{:?}", t.elapsed());
    let s = sink.sink.stats();
    assert_eq!((s.failed, s.resets, s.hangs), (4, 1, 1));
    sink.stop().await;
}

#[tokio::test]
async fn the_control_api_changes_a_route_while_it_runs() {
    let sink = start(
        &config("[[route]]\nname = \"orders\"\npath = \"/orders\"\n"),
        Instant::now(),
    )
    .await
    .unwrap();
    let c = client();
    let post = || {
        c.post(format!("http://{}/orders", sink.addr))
            .header("webhook-id", "x")
            .send()
    };
    assert_eq!(post().await.unwrap().status().as_u16(), 200);
    let r = c
        .put(format!("http://{}/_sink/routes/orders", sink.addr))
        .body(r#"{"fail_after": 1, "fail_status": 502}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    // The route's count restarts: one success, then failures.
    assert_eq!(post().await.unwrap().status().as_u16(), 200);
    assert_eq!(post().await.unwrap().status().as_u16(), 502);
    // A bad table is refused, naming the field, and changes nothing.
    let r = c
        .put(format!("http://{}/_sink/routes/orders", sink.addr))
        .body(r#"{"fail_after": 1, "fail_every": 2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("fail_every"));
    let r = c
        .put(format!("http://{}/_sink/routes/orders", sink.addr))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(post().await.unwrap().status().as_u16(), 502);
    let routes: serde_json::Value = c
        .get(format!("http://{}/_sink/routes", sink.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    assert_eq!(routes[0]["fail_status"], 502);
    sink.stop().await;
}

#[tokio::test]
async fn bad_input_is_counted_and_never_takes_the_sink_down() {
    let sink = start(
        &config("id = { pointer = \"/id\" }\nmax_body = 65536\n"),
        Instant::now(),
    )
    .await
    .unwrap();
    let c = client();
    let url = format!("http://{}/hooks", sink.addr);
    // 10 MB, with a Content-Length: refused before it is read.
    let big = vec![b'a'; 10 * 1024 * 1024];
    let r = c.post(&url).body(big.clone()).send().await;
    if let Ok(r) = r {
        assert_eq!(r.status().as_u16(), 413);
    }
    // 10 MB chunked, with no length: cut off at the limit.
    let status = chunked_post(sink.addr, 10 * 1024 * 1024).await;
    assert!(status.is_none_or(|s| s == 413), "{status:?}");
    for body in ["{not json", "[]", "{\"id\": {}}", ""] {
        let r = c
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{body:?}");
    }
    let r = c.post(&url).body("{\"id\": \"ok-1\"}").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let s: serde_json::Value = c
        .get(format!("http://{}/_sink/stats", sink.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    assert_eq!(s["too_large"], 2, "{s}");
    assert_eq!(s["malformed"], 4, "{s}");
    assert_eq!(s["accepted"], 1, "{s}");
    let metrics = c
        .get(format!("http://{}/_sink/metrics", sink.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("loadcheck_sink_malformed_total 4"), "{metrics}");
    sink.stop().await;
}

/// POSTs `len` bytes with chunked encoding over a raw socket; the status,
/// if an answer came before the sink closed the connection.
async fn chunked_post(addr: std::net::SocketAddr, len: usize) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head =
        "POST /hooks HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n";
    s.write_all(head.as_bytes()).await.ok()?;
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0;
    while sent < len {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if s.write_all(&frame).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf[..n]);
    text.split_whitespace().nth(1)?.parse().ok()
}

fn sink_cli(config: &str, env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sink.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_loadcheck"));
    cmd.args(["sink", "--max-duration", "1s", "--config"]).arg(&path);
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

#[test]
fn a_bad_sink_config_is_exit_2_with_its_line_and_field() {
    let cases = [
        (
            "listen = \"127.0.0.1:0\"\n[[route]]\npath = \"/h\"\nfail_aftr = 3\n",
            "sink.toml:4:1",
            "did you mean \"fail_after\"?",
        ),
        (
            "listen = \"127.0.0.1:0\"\n[[route]]\npath = \"/h\"\nfail_after = 1\ncycle = [200]\n",
            "sink.toml:5:",
            "field `route[0].cycle`",
        ),
        (
            "listen = \"127.0.0.1:0\"\n[signing]\nscheme = \"slack\"\nsecret_env = \"LC_TEST_SURELY_UNSET_SINK\"\n",
            "sink.toml:4:",
            "LC_TEST_SURELY_UNSET_SINK is not set",
        ),
        ("listen = \"nowhere\"\n", "sink.toml:1:", "field `listen`"),
        ("listen = \"127.0.0.1:0\"\nmax_body = 0\n", "sink.toml:2:", "above 0"),
    ];
    for (config, at, says) in cases {
        let out = sink_cli(config, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{config}: {err}");
        assert!(err.contains(at) && err.contains(says), "{config}: {err}");
    }
}

#[test]
fn the_sink_command_serves_then_prints_its_counters_without_the_secret() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let out = sink_cli(
        "listen = \"127.0.0.1:0\"\n[signing]\nscheme = \"standard-webhooks\"\nsecret_env = \"LC_TEST_SINK_WH\"\n",
        &[("LC_TEST_SINK_WH", secret)],
    );
    assert_eq!(out.status.code(), Some(0));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["posts"], 0);
    assert_eq!(stats["signatures"]["verified"], true);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("sink listening on http://127.0.0.1:"), "{all}");
    assert!(!all.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
}
