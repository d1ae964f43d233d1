//! Push-delivery benchmark: starts `nyckel-server` as a child process, enrolls N software
//! phones, keeps each long-polling on its own connection, creates push challenges at a
//! steady rate and reports delivery latency (created → phone has it), approvals per second
//! and the server's peak RSS.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use nyckel_protocol::agreement::EphemeralKey;
use nyckel_protocol::enrollment::EnrollmentStarted;
use nyckel_protocol::wire::phone::PendingChallenges;
use nyckel_protocol::wire::relying_party::PushChallengeCreated;
use nyckel_protocol::{
    Answer, CompleteEnrollment, DeviceId, EnrollmentReceipt, PinSecret, QrPayload, RequestAuth, SoftwareDeviceKey,
};

#[derive(Parser)]
#[command(about = "Nyckel push-delivery benchmark")]
struct Args {
    /// Simulated phones, each on its own long-polling connection.
    #[arg(long, default_value_t = 10_000)]
    phones: usize,
    /// Push challenges created per second.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Seconds of challenge creation (longer than the 30 s poll, so re-polls are included).
    #[arg(long, default_value_t = 45)]
    seconds: u64,
    /// Concurrent enrollments during setup.
    #[arg(long, default_value_t = 32)]
    enroll_concurrency: usize,
    /// The server binary (default: `nyckel-server` next to this one).
    #[arg(long)]
    server: Option<PathBuf>,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// One HTTP/1.1 connection of its own.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    async fn open(addr: &str) -> Result<Self, Error> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { sender, host: addr.to_owned() })
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<(u16, Bytes), Error> {
        let mut req = hyper::Request::builder().method(method).uri(path).header("host", &self.host);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        if !body.is_empty() {
            req = req.header("content-type", "application/json");
        }
        self.sender.ready().await?;
        let resp = self.sender.send_request(req.body(Full::new(Bytes::from(body)))?).await?;
        let status = resp.status().as_u16();
        Ok((status, resp.into_body().collect().await?.to_bytes()))
    }
}

struct Phone {
    key: SoftwareDeviceKey,
    secret: PinSecret,
    device_id: DeviceId,
}

impl Phone {
    async fn signed(&self, conn: &mut Conn, method: &str, path: &str, body: Vec<u8>) -> Result<(u16, Bytes), Error> {
        let auth = RequestAuth::sign(&self.key, &self.device_id, method, path, &body, unix_now())?;
        let headers: Vec<(&str, String)> = auth.to_headers().into_iter().collect();
        conn.send(method, path, &headers, body).await
    }
}

#[derive(Default)]
struct Shared {
    created: Mutex<HashMap<String, Instant>>,
    delivered: Mutex<HashMap<String, Instant>>,
    approvals: AtomicU64,
    answer_errors: AtomicU64,
    poll_errors: AtomicU64,
    polling: AtomicUsize,
    stop: AtomicBool,
}

async fn enroll(addr: &str, rp_key: &str, user: &str, rp: &mut Conn) -> Result<Phone, Error> {
    let auth = [("authorization", format!("Bearer {rp_key}"))];
    let body = serde_json::to_vec(&serde_json::json!({"user": user, "device_name": "bench"}))?;
    let (status, bytes) = rp.send("POST", "/v1/enrollments", &auth, body).await?;
    if status != 200 {
        return Err(format!("enrollment start: {status} {}", String::from_utf8_lossy(&bytes)).into());
    }
    let started: EnrollmentStarted = serde_json::from_slice(&bytes)?;
    let QrPayload::Enroll(qr) = QrPayload::parse(&started.qr)? else {
        return Err("not an enrollment code".into());
    };
    let key = SoftwareDeviceKey::generate()?;
    let (ephemeral, share) = EphemeralKey::generate()?;
    let req = CompleteEnrollment::create(&qr, &key, &share, "bench")?;
    let mut conn = Conn::open(addr).await?;
    let (status, bytes) = conn.send("POST", "/v1/enroll", &[], serde_json::to_vec(&req)?).await?;
    if status != 200 {
        return Err(format!("enroll: {status} {}", String::from_utf8_lossy(&bytes)).into());
    }
    let receipt: EnrollmentReceipt = serde_json::from_slice(&bytes)?;
    let secret = receipt.accept(&qr, &nyckel_protocol::DeviceSigner::public_key(&key), ephemeral, &share)?;
    Ok(Phone { key, secret, device_id: receipt.device_id })
}

async fn run_phone(addr: String, phone: Phone, shared: Arc<Shared>) {
    let mut conn = match Conn::open(&addr).await {
        Ok(c) => c,
        Err(_) => {
            shared.poll_errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let mut first = true;
    while !shared.stop.load(Ordering::Relaxed) {
        if first {
            shared.polling.fetch_add(1, Ordering::Relaxed);
            first = false;
        }
        let polled = phone.signed(&mut conn, "GET", "/v1/device/challenges?wait=30", Vec::new()).await;
        let received = Instant::now();
        let pending: PendingChallenges = match polled {
            Ok((200, bytes)) => match serde_json::from_slice(&bytes) {
                Ok(p) => p,
                Err(_) => {
                    shared.poll_errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            },
            _ => {
                shared.poll_errors.fetch_add(1, Ordering::Relaxed);
                match Conn::open(&addr).await {
                    Ok(c) => conn = c,
                    Err(_) => return,
                }
                continue;
            }
        };
        for signed in pending.challenges {
            let c = signed.challenge;
            shared.delivered.lock().unwrap_or_else(|p| p.into_inner()).entry(c.id.to_string()).or_insert(received);
            let Ok(answer) = Answer::approve(&c, None, unix_now(), &phone.key, &phone.secret) else { continue };
            let path = format!("/v1/device/challenges/{}/answer", c.id);
            let body = serde_json::to_vec(&answer).unwrap_or_default();
            match phone.signed(&mut conn, "POST", &path, body).await {
                Ok((200, _)) => shared.approvals.fetch_add(1, Ordering::Relaxed),
                _ => shared.answer_errors.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    lim.rlim_cur
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() -> Result<(), Error> {
    let args = Args::parse();
    let nofile = raise_nofile();
    if (nofile as usize) < args.phones + 1000 {
        eprintln!("warning: RLIMIT_NOFILE is {nofile}, fewer than the phones need");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(bench(args))
}

async fn bench(args: Args) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let users: Vec<String> = (0..args.phones).map(|i| format!("user{i}")).collect();
    let setup = Instant::now();
    nyckel_server::admin::add_tenant(dir.path(), "bench", "Bench")?;
    nyckel_server::admin::add_users(dir.path(), "bench", &users)?;
    let rp_key = nyckel_server::admin::add_relying_party(dir.path(), "bench", "bench")?.to_string();

    let server_bin = match args.server {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("nyckel-server"),
    };
    // Every bench phone and the bench relying party share 127.0.0.1: the rate limits are
    // raised far above the load, and the KEK sits beside the data directory.
    let kek = tempfile::tempdir()?;
    let kek_file = kek.path().join("kek");
    nyckel_server::secrets::Kek::create_file(&kek_file, dir.path())?;
    let mut child = Command::new(&server_bin)
        .arg("--data-dir")
        .arg(dir.path())
        .env("NYCKEL_KEK_FILE", &kek_file)
        // Request logs of every poll and answer would measure the terminal, not the server.
        .env("NYCKEL_LOG", "warn")
        .args(["serve", "--listen", "127.0.0.1:0", "--key-rate", "1000000", "--address-rate", "1000000"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", server_bin.display()))?;
    let pid = child.id();
    let stdout = child.stdout.take().ok_or("no server stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr =
        line.trim().strip_prefix("listening on http://").ok_or_else(|| format!("unexpected: {line:?}"))?.to_owned();
    eprintln!("server pid {pid} at {addr}; enrolling {} phones…", args.phones);

    // Enrollment, a few at a time.
    let phones = Arc::new(Mutex::new(Vec::with_capacity(args.phones)));
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..args.enroll_concurrency {
        let (addr, rp_key, users, phones, next) =
            (addr.clone(), rp_key.clone(), users.clone(), phones.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut rp = Conn::open(&addr).await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= users.len() {
                    return Ok::<(), Error>(());
                }
                let phone = enroll(&addr, &rp_key, &users[i], &mut rp).await?;
                phones.lock().unwrap_or_else(|p| p.into_inner()).push((i, phone));
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    let enroll_secs = setup.elapsed().as_secs_f64();
    let mut phones = std::mem::take(&mut *phones.lock().unwrap_or_else(|p| p.into_inner()));
    phones.sort_by_key(|(i, _)| *i);
    eprintln!("enrolled in {enroll_secs:.1} s; connecting phones…");

    let shared = Arc::new(Shared::default());
    let connect_start = Instant::now();
    for (_, phone) in phones {
        tokio::spawn(run_phone(addr.clone(), phone, shared.clone()));
        // Spread the connects a little, as real phones would not all arrive in one instant.
        if shared.polling.load(Ordering::Relaxed) % 500 == 0 {
            tokio::task::yield_now().await;
        }
    }
    while shared.polling.load(Ordering::Relaxed) < args.phones {
        if connect_start.elapsed() > Duration::from_secs(120) {
            return Err("phones did not all connect in 120 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the first polls reach the server and park.
    tokio::time::sleep(Duration::from_secs(3)).await;
    eprintln!("{} phones polling; creating {} challenges/s for {} s…", args.phones, args.rate, args.seconds);

    // RP connections for challenge creation.
    let pool_size = 64;
    let mut pool = Vec::with_capacity(pool_size);
    for _ in 0..pool_size {
        pool.push(Arc::new(tokio::sync::Mutex::new(Conn::open(&addr).await?)));
    }
    let create_errors = Arc::new(AtomicU64::new(0));
    let approvals_before = shared.approvals.load(Ordering::Relaxed);
    let run_start = Instant::now();
    let total = args.rate * args.seconds;
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / args.rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut creators = Vec::new();
    for n in 0..total {
        tick.tick().await;
        let user = format!("user{}", n as usize % args.phones);
        let conn = pool[n as usize % pool_size].clone();
        let (shared, errors, rp_key) = (shared.clone(), create_errors.clone(), rp_key.clone());
        creators.push(tokio::spawn(async move {
            let body = serde_json::json!({"user": user, "context": {"service": "Bench", "action": "Sign in"},
                "transaction": [{"key": "Amount", "value": "100 SEK"}], "number_matching": "none"});
            let mut conn = conn.lock().await;
            let t0 = Instant::now();
            let result = conn
                .send(
                    "POST",
                    "/v1/challenges/push",
                    &[("authorization", format!("Bearer {rp_key}"))],
                    serde_json::to_vec(&body).unwrap_or_default(),
                )
                .await;
            match result {
                Ok((200, bytes)) => match serde_json::from_slice::<PushChallengeCreated>(&bytes) {
                    Ok(created) => {
                        shared
                            .created
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(created.challenge_id.to_string(), t0);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                },
                _ => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for c in creators {
        let _ = c.await;
    }
    let create_secs = run_start.elapsed().as_secs_f64();
    // Stragglers.
    let drain = Instant::now();
    loop {
        let created = shared.created.lock().unwrap_or_else(|p| p.into_inner()).len();
        let approved = (shared.approvals.load(Ordering::Relaxed) - approvals_before) as usize;
        if approved >= created || drain.elapsed() > Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let approvals = shared.approvals.load(Ordering::Relaxed) - approvals_before;
    let window = run_start.elapsed().as_secs_f64();
    shared.stop.store(true, Ordering::Relaxed);

    let created = shared.created.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let delivered = shared.delivered.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut latencies: Vec<f64> = created
        .iter()
        .filter_map(|(id, t0)| delivered.get(id).map(|t1| t1.saturating_duration_since(*t0).as_secs_f64() * 1000.0))
        .collect();
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let errors = (
        create_errors.load(Ordering::Relaxed),
        shared.poll_errors.load(Ordering::Relaxed),
        shared.answer_errors.load(Ordering::Relaxed),
    );
    let server_hwm = vm_hwm_kib(pid).unwrap_or(0);
    let bench_hwm = vm_hwm_kib(std::process::id()).unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();

    println!("| metric | value |");
    println!("|---|---|");
    println!("| phones long-polling (own connection each) | {} |", args.phones);
    println!(
        "| challenges created | {} in {:.1} s ({:.0}/s target {}) |",
        created.len(),
        create_secs,
        created.len() as f64 / create_secs,
        args.rate
    );
    println!("| challenges delivered | {} |", latencies.len());
    println!("| delivery latency p50 | {:.1} ms |", percentile(&latencies, 50.0));
    println!("| delivery latency p99 | {:.1} ms |", percentile(&latencies, 99.0));
    println!("| delivery latency max | {:.1} ms |", latencies.last().copied().unwrap_or(f64::NAN));
    println!("| approvals | {} ({:.0}/s) |", approvals, approvals as f64 / window);
    println!("| errors (create / poll / answer) | {} / {} / {} |", errors.0, errors.1, errors.2);
    println!("| server peak RSS (VmHWM) | {:.1} MiB |", server_hwm as f64 / 1024.0);
    println!("| bench (phones) peak RSS | {:.1} MiB |", bench_hwm as f64 / 1024.0);
    println!("| setup: users + enrollment | {enroll_secs:.1} s |");
    Ok(())
}
