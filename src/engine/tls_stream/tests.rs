//! The stream against a real rustls server (tokio-rustls on a loopback
//! port) with a certificate made per test: round trips small and large,
//! records trickled one byte per TCP write, `close_notify` and a bare TCP
//! close, KeyUpdate, TLS 1.2, and HTTP/2 by ALPN.

use super::*;
use std::task::Waker;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Requests the test server understands: one op byte and a big-endian
/// length. `E`: echo the `len` bytes that follow; `G`: answer `len` pattern
/// bytes; `K`: refresh the keys (TLS 1.3 KeyUpdate), then as `G`; `C`: send
/// `close_notify`; `D`: close the TCP connection without it.
fn frame(op: u8, len: usize) -> [u8; 5] {
    let [a, b, c, d] = u32::try_from(len).unwrap().to_be_bytes();
    [op, a, b, c, d]
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// How the test server behaves.
#[derive(Clone, Copy, Default)]
struct Server {
    /// Only TLS 1.2.
    tls12: bool,
    /// Every TCP write is one byte.
    trickle: bool,
    /// Offer `h2` by ALPN and serve HTTP/2 (hyper).
    h2: bool,
}

/// A TCP stream whose writes take one byte at a time.
struct Trickle(tokio::net::TcpStream);

impl AsyncRead for Trickle {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Trickle {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, &buf[..buf.len().min(1)])
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Starts the server; returns its address and a client config that
/// trusts it.
async fn start(server: Server) -> (std::net::SocketAddr, Arc<ClientConfig>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&SupportedProtocolVersion] = if server.tls12 {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf_cert.der().clone()], key)
        .unwrap();
    let alpn: &[u8] = if server.h2 { b"h2" } else { b"http/1.1" };
    config.alpn_protocols = vec![alpn.to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca_cert.der().to_vec())).unwrap();
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tcp.set_nodelay(true).unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if server.h2 {
                    serve_h2(acceptor.accept(tcp).await.unwrap()).await;
                } else if server.trickle {
                    serve(acceptor.accept(Trickle(tcp)).await.unwrap()).await;
                } else {
                    serve(acceptor.accept(tcp).await.unwrap()).await;
                }
            });
        }
    });
    (addr, Arc::new(client))
}

/// Answers framed requests until the client goes.
async fn serve<T: AsyncRead + AsyncWrite + Unpin>(mut tls: tokio_rustls::server::TlsStream<T>) {
    let mut head = [0u8; 5];
    while tls.read_exact(&mut head).await.is_ok() {
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        match head[0] {
            b'E' => {
                let mut body = vec![0; len];
                tls.read_exact(&mut body).await.unwrap();
                tls.write_all(&body).await.unwrap();
            }
            b'G' => tls.write_all(&pattern(len)).await.unwrap(),
            b'K' => {
                tls.get_mut().1.refresh_traffic_keys().unwrap();
                // With no data, the KeyUpdate goes alone at the flush.
                tls.write_all(&pattern(len)).await.unwrap();
            }
            b'C' => {
                tls.shutdown().await.unwrap();
                // Keep the TCP connection open: the end is the alert's.
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                return;
            }
            _ => return,
        }
        tls.flush().await.unwrap();
    }
}

/// Serves HTTP/2: every request gets 200 and a 100,000-byte body.
async fn serve_h2(tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>) {
    let svc = hyper::service::service_fn(|_req| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from(
            pattern(100_000),
        ))))
    });
    let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
        .await;
}

async fn connect(addr: std::net::SocketAddr, config: &Arc<ClientConfig>) -> TlsStream {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    handshake(config.clone(), ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

/// Reads `len` bytes in reads of at most `chunk` bytes.
async fn read_len(s: &mut TlsStream, len: usize, chunk: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(len);
    let mut buf = vec![0; chunk];
    while got.len() < len {
        let want = chunk.min(len - got.len());
        let n = s.read(&mut buf[..want]).await.unwrap();
        assert!(n > 0, "end of stream after {} of {len} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// What `H1::is_usable` does: a one-byte read with a no-op waker.
fn probe(s: &mut TlsStream) -> Poll<io::Result<usize>> {
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    let mut cx = Context::from_waker(Waker::noop());
    Pin::new(s).poll_read(&mut cx, &mut buf).map_ok(|()| buf.filled().len())
}

/// Whether `f` is ready at its first poll.
fn ready_now<F: Future>(f: F) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    std::pin::pin!(f).poll(&mut cx).is_ready()
}

#[tokio::test]
async fn round_trips_small_and_large_and_an_idle_stream_holds_no_buffer() {
    let (addr, config) = start(Server::default()).await;
    let mut s = connect(addr, &config).await;
    assert_eq!(s.alpn_protocol(), Some(&b"http/1.1"[..]));
    for round in 0..3 {
        // A small request and answer, as one write each way.
        s.write_all(&frame(b'G', 300)).await.unwrap();
        s.flush().await.unwrap();
        assert_eq!(read_len(&mut s, 300, 4096).await, pattern(300));
        // 200 KB answered in 16 KB records, read 1,000 bytes at a time: the
        // rest of each record waits in the side buffer.
        s.write_all(&frame(b'G', 200_000)).await.unwrap();
        assert_eq!(read_len(&mut s, 200_000, 1000).await, pattern(200_000));
        // 200 KB each way at once.
        let body = pattern(200_000);
        let (mut rd, mut wr) = tokio::io::split(&mut s);
        let (echoed, ()) = tokio::join!(
            async {
                let mut got = vec![0; body.len()];
                rd.read_exact(&mut got).await.unwrap();
                got
            },
            async {
                wr.write_all(&frame(b'E', body.len())).await.unwrap();
                wr.write_all(&body).await.unwrap();
                wr.flush().await.unwrap();
            }
        );
        assert!(echoed == body, "round {round}: the echo differs");
        // Idle: the probe is pending and nothing is held.
        assert!(probe(&mut s).is_pending());
        assert!(!s.holds_buffers(), "round {round}: an idle stream holds a buffer");
        assert!(spares() > 0, "the buffers went back to the spares");
        assert!(!ready_now(s.readable()), "nothing to read");
    }
}

#[tokio::test]
async fn records_split_into_one_byte_tcp_writes() {
    let (addr, config) = start(Server {
        trickle: true,
        ..Server::default()
    })
    .await;
    // The handshake's flight arrives a byte at a time too.
    let mut s = connect(addr, &config).await;
    for _ in 0..2 {
        s.write_all(&frame(b'G', 3000)).await.unwrap();
        assert_eq!(read_len(&mut s, 3000, 4096).await, pattern(3000));
        s.write_all(&frame(b'E', 100)).await.unwrap();
        s.write_all(&pattern(100)).await.unwrap();
        assert_eq!(read_len(&mut s, 100, 4096).await, pattern(100));
        assert!(probe(&mut s).is_pending());
        assert!(!s.holds_buffers());
    }
}

#[tokio::test]
async fn close_notify_is_the_end_of_the_stream() {
    let (addr, config) = start(Server::default()).await;
    let mut s = connect(addr, &config).await;
    s.write_all(&frame(b'G', 10)).await.unwrap();
    assert_eq!(read_len(&mut s, 10, 64).await, pattern(10));
    s.write_all(&frame(b'C', 0)).await.unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(s.read(&mut buf).await.unwrap(), 0);
    assert_eq!(s.read(&mut buf).await.unwrap(), 0, "and stays so");
    assert!(matches!(probe(&mut s), Poll::Ready(Ok(0))));
    assert!(ready_now(s.readable()));
    assert!(!s.holds_buffers());
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bare_tcp_close_is_an_unexpected_end() {
    let (addr, config) = start(Server::default()).await;
    let mut s = connect(addr, &config).await;
    s.write_all(&frame(b'G', 10)).await.unwrap();
    assert_eq!(read_len(&mut s, 10, 64).await, pattern(10));
    assert!(probe(&mut s).is_pending());
    s.write_all(&frame(b'D', 0)).await.unwrap();
    s.readable().await.unwrap();
    // As `is_usable` sees it: ready, so not usable.
    match probe(&mut s) {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof),
        other => panic!("expected an unexpected end, got {other:?}"),
    }
    assert!(!s.holds_buffers());
}

#[tokio::test]
async fn a_key_update_from_the_server() {
    let (addr, config) = start(Server::default()).await;
    let mut s = connect(addr, &config).await;
    for _ in 0..3 {
        s.write_all(&frame(b'K', 5000)).await.unwrap();
        assert_eq!(read_len(&mut s, 5000, 4096).await, pattern(5000));
        // Our answering KeyUpdate goes out before this request.
        s.write_all(&frame(b'E', 20_000)).await.unwrap();
        s.write_all(&pattern(20_000)).await.unwrap();
        assert_eq!(read_len(&mut s, 20_000, 4096).await, pattern(20_000));
    }
}

#[tokio::test]
async fn readable_waits_past_records_without_data() {
    let (addr, config) = start(Server::default()).await;
    let mut s = connect(addr, &config).await;
    let wait = std::time::Duration::from_millis(300);
    // The server's session tickets come, and are no data.
    assert!(tokio::time::timeout(wait, s.readable()).await.is_err());
    assert!(!s.holds_buffers());
    // Nor is a KeyUpdate alone.
    s.write_all(&frame(b'K', 0)).await.unwrap();
    assert!(tokio::time::timeout(wait, s.readable()).await.is_err());
    assert!(!s.holds_buffers());
    assert!(probe(&mut s).is_pending());
    // An answer is.
    s.write_all(&frame(b'G', 10)).await.unwrap();
    s.readable().await.unwrap();
    assert!(!s.holds_buffers(), "its record waits in rustls");
    assert!(ready_now(s.readable()));
    assert_eq!(read_len(&mut s, 10, 64).await, pattern(10));
    assert!(probe(&mut s).is_pending());
}

#[tokio::test]
async fn a_tls12_only_server() {
    let (addr, config) = start(Server {
        tls12: true,
        ..Server::default()
    })
    .await;
    let mut s = connect(addr, &config).await;
    assert_eq!(s.conn.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_2));
    s.write_all(&frame(b'G', 100_000)).await.unwrap();
    assert_eq!(read_len(&mut s, 100_000, 4096).await, pattern(100_000));
    s.write_all(&frame(b'E', 50_000)).await.unwrap();
    s.write_all(&pattern(50_000)).await.unwrap();
    assert_eq!(read_len(&mut s, 50_000, 4096).await, pattern(50_000));
    assert!(probe(&mut s).is_pending());
    assert!(!s.holds_buffers());
}

#[tokio::test]
async fn http2_by_alpn() {
    let (addr, config) = start(Server {
        h2: true,
        ..Server::default()
    })
    .await;
    let s = connect(addr, &config).await;
    assert_eq!(s.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) = ::h2::client::handshake(s).await.unwrap();
    tokio::spawn(conn);
    for _ in 0..3 {
        let req = http::Request::get("https://localhost/").body(()).unwrap();
        let (resp, _) = send.send_request(req, true).unwrap();
        let resp = resp.await.unwrap();
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let mut got = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            body.flow_control().release_capacity(chunk.len()).unwrap();
            got.extend_from_slice(&chunk);
        }
        assert!(got == pattern(100_000));
        send = send.ready().await.unwrap();
    }
}
