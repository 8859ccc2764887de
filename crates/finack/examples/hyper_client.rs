//! A hyper HTTP/1.1 client over finack: two stacks in memory, finack's own
//! HTTP server (`finack::serve::http`) on one, hyper's client on the other.
//!
//! `cargo run -p finack --example hyper_client`

use finack::{Stack, TcpListener, TcpStream};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client_stack, server_stack) = Stack::pair();
    let listener = TcpListener::bind(&server_stack, "192.0.2.2:80".parse()?)?;
    tokio::spawn(finack::serve::http(listener, None));

    // hyper runs over any AsyncRead + AsyncWrite: a finack TcpStream.
    let stream = TcpStream::connect(&client_stack, "192.0.2.2:80".parse()?).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    for path in ["/", "/bytes/100000"] {
        let req = Request::get(path)
            .header("host", "192.0.2.2")
            .body(Empty::<Bytes>::new())?;
        let res = sender.send_request(req).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        println!("GET {path}: {status}, {} bytes", body.len());
        assert!(status.is_success());
    }
    Ok(())
}
