//! Parser micro-benchmarks: the per-request cost of the HTTP codec on the hot path.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tollgate::http::{ChunkedDecoder, Decoded, RequestHead, ResponseHead};

/// A typical browser-ish GET with ten headers.
const BROWSER_GET: &[u8] = b"GET /prod/users/12345/orders?limit=20&cursor=abc HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://www.example.com/account\r\n\
Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n\
Connection: keep-alive\r\n\
Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJl\r\n\
Cache-Control: no-cache\r\n\
\r\n";

/// The smallest valid HTTP/1.1 request.
const MINIMAL_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

/// A typical backend response head.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1234\r\n\
Date: Sat, 22 Nov 2025 18:00:00 GMT\r\nx-amzn-RequestId: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\r\n\r\n";

fn chunked_body(total: usize, chunk: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(total + total / chunk * 8 + 8);
    let data = vec![b'x'; chunk];
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk);
        tollgate::http::write_chunk(&mut out, &data[..n]);
        left -= n;
    }
    out.extend_from_slice(tollgate::http::LAST_CHUNK);
    out
}

fn bench_requests(c: &mut Criterion) {
    let mut head = RequestHead::new();
    c.bench_function("request/browser_get_10_headers", |b| {
        b.iter(|| head.parse(black_box(BROWSER_GET), 8192))
    });
    c.bench_function("request/minimal_get", |b| {
        b.iter(|| head.parse(black_box(MINIMAL_GET), 8192))
    });
    let mut resp = ResponseHead::new();
    c.bench_function("response/typical_head", |b| {
        b.iter(|| resp.parse(black_box(RESPONSE), 8192, false))
    });
}

fn bench_chunked(c: &mut Criterion) {
    let body = chunked_body(64 * 1024, 4 * 1024);
    let mut group = c.benchmark_group("chunked");
    group.throughput(Throughput::Bytes(64 * 1024));
    group.bench_function("decode_64k_in_4k_chunks", |b| {
        b.iter(|| {
            let mut dec = ChunkedDecoder::new();
            let mut at = 0;
            let mut data = 0;
            loop {
                match dec.decode(black_box(&body[at..])) {
                    Ok((n, Decoded::Data { start, end })) => {
                        data += end - start;
                        at += n;
                    }
                    Ok((_, Decoded::Done)) => break,
                    Ok((_, Decoded::NeedMore)) | Err(_) => unreachable!("valid body"),
                }
            }
            data
        })
    });
    group.finish();
}

criterion_group!(benches, bench_requests, bench_chunked);
criterion_main!(benches);
