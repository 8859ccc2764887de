//! The Linux kernel on loopback (127.0.0.1), with std's sockets and threads.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Move `bytes` over loopback from one thread to another.
pub fn bulk(bytes: usize) -> io::Result<Duration> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let reader = std::thread::spawn(move || -> io::Result<usize> {
        let (mut s, _) = l.accept()?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0;
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Ok(got);
            }
            got += n;
        }
    });
    let mut c = TcpStream::connect(addr)?;
    let chunk = vec![0x5au8; 1 << 16];
    let started = Instant::now();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        c.write_all(&chunk[..n])?;
        left -= n;
    }
    c.shutdown(Shutdown::Write)?;
    let got = reader
        .join()
        .map_err(|_| io::Error::other("reader panicked"))??;
    let elapsed = started.elapsed();
    if got != bytes {
        return Err(io::Error::other(format!("received {got} of {bytes}")));
    }
    Ok(elapsed)
}

/// `n` connections over loopback: connect, 100 bytes each way, the client
/// closes first.
pub fn churn(n: usize) -> io::Result<Duration> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let server = std::thread::spawn(move || -> io::Result<()> {
        let mut buf = [0u8; 512];
        for _ in 0..n {
            let (mut s, _) = l.accept()?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            s.read_exact(&mut buf[..100])?;
            s.write_all(&buf[..100])?;
            while s.read(&mut buf)? > 0 {}
        }
        Ok(())
    });
    let msg = [0x42u8; 100];
    let mut buf = [0u8; 100];
    let started = Instant::now();
    for _ in 0..n {
        let mut c = TcpStream::connect(addr)?;
        c.set_read_timeout(Some(Duration::from_secs(10)))?;
        c.write_all(&msg)?;
        c.read_exact(&mut buf)?;
    }
    server
        .join()
        .map_err(|_| io::Error::other("server panicked"))??;
    Ok(started.elapsed())
}
