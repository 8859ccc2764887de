//! Two finack stacks in memory: an echo server and a client, over a link that
//! loses 2% of the packets.
//!
//! `cargo run -p finack --example pair_echo`

use std::time::Duration;

use finack::{Config, Impairment, Stack, TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let lossy = |seed| {
        Impairment::new(seed)
            .loss(0.02)
            .delay(Duration::from_millis(5), Duration::ZERO)
    };
    let (client, server) = Stack::pair_with(Config::linux(), Some(lossy(1)), Some(lossy(2)));

    let listener = TcpListener::bind(&server, "192.0.2.2:7".parse().unwrap())?;
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            println!("server: connection from {peer}");
            tokio::spawn(async move {
                let (mut r, mut w) = stream.into_split();
                let n = tokio::io::copy(&mut r, &mut w).await.unwrap_or(0);
                println!("server: echoed {n} bytes");
            });
        }
    });

    let mut stream = TcpStream::connect(&client, "192.0.2.2:7".parse().unwrap()).await?;
    println!("client: connected from {}", stream.local_addr()?);
    let message = vec![b'x'; 200_000];
    stream.write_all(&message).await?;
    stream.shutdown().await?;
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).await?;
    assert_eq!(echoed, message);
    println!(
        "client: got all {} bytes back; {} retransmissions",
        echoed.len(),
        client.stats().retransmits
    );
    Ok(())
}
