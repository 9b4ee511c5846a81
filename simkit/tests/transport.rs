//! The transport serves and requests identically over real loopback and inside turmoil.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use simkit::transport::{
    ClientError, HttpClient, Listener, Network, ResetConnection, Timeouts, serve,
};

fn router(peers: Arc<AtomicUsize>) -> Router {
    Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route(
            "/peer",
            get(move |ConnectInfo(peer): ConnectInfo<SocketAddr>| {
                peers.fetch_add(1, Ordering::SeqCst);
                async move { peer.port().to_string() }
            }),
        )
        .route(
            "/reset",
            get(|| async {
                let mut response = "never sent".into_response();
                response.extensions_mut().insert(ResetConnection);
                response
            }),
        )
        .route(
            "/slow",
            get(|| async {
                simkit::time::sleep(Duration::from_secs(60)).await;
                "late"
            }),
        )
}

fn get_req(url: &str) -> Request<Full<Bytes>> {
    Request::get(url).body(Full::new(Bytes::new())).unwrap()
}

/// Exercises one client against one server: no Date header, keep-alive reuse, reset, timeout.
async fn exercise(client: HttpClient, base: String, virtual_time: bool) {
    let pong = client.send(get_req(&format!("{base}/ping"))).await.unwrap();
    assert_eq!(pong.status, 200);
    assert_eq!(&pong.body[..], b"pong");
    assert!(
        pong.headers.get("date").is_none(),
        "Date header reads the wall clock"
    );

    // Two sequential requests reuse one keep-alive connection: same client port.
    let first = client.send(get_req(&format!("{base}/peer"))).await.unwrap();
    let second = client.send(get_req(&format!("{base}/peer"))).await.unwrap();
    assert_eq!(first.body, second.body, "connection was not reused");

    let reset = client
        .send(get_req(&format!("{base}/reset")))
        .await
        .unwrap_err();
    assert!(matches!(reset, ClientError::Closed(_)), "{reset:?}");

    if virtual_time {
        // Only where time is free: a real-time run would wait out the timeout on the wall clock.
        let slow = client
            .send(get_req(&format!("{base}/slow")))
            .await
            .unwrap_err();
        assert_eq!(slow, ClientError::Timeout);
    }

    // The server keeps serving after all that.
    let again = client.send(get_req(&format!("{base}/ping"))).await.unwrap();
    assert_eq!(&again.body[..], b"pong");
}

fn short_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(1),
        total: Duration::from_secs(2),
    }
}

#[tokio::test]
async fn real_loopback() {
    let listener = Listener::bind(Network::Real, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve(
        listener,
        router(Arc::default()),
        std::future::pending(),
        Duration::from_secs(1),
    ));
    exercise(
        HttpClient::new(Network::Real, short_timeouts()),
        format!("http://{addr}"),
        false,
    )
    .await;
    server.abort();
}

#[test]
fn inside_turmoil() {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(120))
        .min_message_latency(Duration::from_millis(5))
        .max_message_latency(Duration::from_millis(5))
        .build();
    sim.host("server", || async {
        let listener =
            Listener::bind(Network::Simulated, (Ipv4Addr::UNSPECIFIED, 80).into()).await?;
        serve(
            listener,
            router(Arc::default()),
            std::future::pending(),
            Duration::from_secs(1),
        )
        .await;
        Ok(())
    });
    sim.client("client", async {
        exercise(
            HttpClient::new(Network::Simulated, short_timeouts()),
            "http://server".into(),
            true,
        )
        .await;
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn connect_failure_is_reported_not_hung() {
    let mut sim = turmoil::Builder::new().build();
    sim.host("server", || async {
        std::future::pending::<()>().await;
        Ok(())
    });
    sim.client("client", async {
        let client = HttpClient::new(Network::Simulated, short_timeouts());
        let err = client
            .send(get_req("http://server:9/ping"))
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Connect(_)), "{err:?}");
        Ok(())
    });
    sim.run().unwrap();
}

/// A client that never finishes its request headers (slowloris) is disconnected after the
/// header read timeout instead of holding its connection; the server keeps serving others.
/// Time is tokio's paused clock: the test waits for no wall-clock time.
#[tokio::test(start_paused = true)]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = Listener::bind(Network::Real, (Ipv4Addr::LOCALHOST, 0).into())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        router(Arc::new(AtomicUsize::new(0))),
        std::future::pending(),
        Duration::from_secs(1),
    ));
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = simkit::time::timeout(
        simkit::transport::HEADER_READ_TIMEOUT * 4,
        slow.read_to_end(&mut buf),
    )
    .await;
    assert!(read.is_ok(), "the server still holds the half-sent request");
    let client = HttpClient::new(Network::Real, Timeouts::default());
    let pong = client
        .send(
            Request::get(format!("http://{addr}/ping"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(pong.body.as_ref(), b"pong");
}
