//! Cost of rendering the common mapping-template shapes, each parsed once (as the control
//! plane does) and rendered per request (as a shard does). The templates and bodies are the
//! files of `loadtest/templates/`, which `loadtest/templates.sh` also renders in LocalStack's
//! Python engine (airspeed) and in velocityjs for the side-by-side ratio in tuning.md.
//!
//! Targets (the templates issue): a 1 KB JSON reshape under 5 µs, 100 items under 50 µs.

mod shapes;

use criterion::{black_box, criterion_group, criterion_main, Criterion};

/// The gateway's allocator (`src/main.rs`), so allocation costs what it costs on a shard.
#[global_allocator]
static GLOBAL: tollgate::alloc::Allocator = tollgate::alloc::Allocator;
use shapes::Request;
use tollgate::template::{Budget, Template};

fn file(name: &str) -> String {
    shapes::read(name).unwrap_or_else(|e| panic!("{e}"))
}

/// The shapes: (name, template file, body file).
pub const SHAPES: [(&str, &str, &str); 4] = [
    ("reshape_1kb", "reshape.vtl", "reshape.json"),
    ("foreach_100_items", "foreach100.vtl", "items100.json"),
    ("form_to_json", "form.vtl", "form.txt"),
    ("select_response_fields", "select.vtl", "select.json"),
];

fn bench_render(c: &mut Criterion) {
    let mut group = c.benchmark_group("template");
    for (name, template, body) in SHAPES {
        let t = Template::parse(&file(template)).expect("bench template parses");
        let mut req = Request {
            body: file(body).into_bytes(),
        };
        // Fails the bench, not just slows it, if the render breaks.
        t.render(&mut req, Budget::default())
            .expect("bench template renders");
        group.bench_function(name, |b| {
            b.iter(|| black_box(t.render(&mut req, Budget::default())))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
