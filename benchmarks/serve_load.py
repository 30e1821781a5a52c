"""Load test of ``barcodefm serve``: concurrent uploads against a server on 127.0.0.1.

Starts ``barcodefm serve`` (bundled coi-insect model, default limits) as a subprocess on a free
loopback port, then N client threads (httpx) each upload a FASTA of B real barcodes from the bundled
COI sample at the same moment and poll their job until it is done. Checks that every upload gets
every one of its rows back, in order, and prints a table: per client the time from upload to result
and its place in the queue, then the totals, the throughput and the server's peak resident memory
(``VmHWM`` of the server process, Linux).

Bounded: N x B barcodes (default 8 x 200), one server, a time limit per job; only 127.0.0.1 is
contacted; the server is stopped at the end.

    python benchmarks/serve_load.py [--clients 8] [--barcodes 200] [--queue-size 8]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def sample_fastas(n_clients: int, n_barcodes: int) -> list[tuple[list[str], str]]:
    from barcodefm.data import iter_barcodes, sample_path

    records = list(iter_barcodes(sample_path("coi")))
    if n_clients * n_barcodes > len(records):
        raise SystemExit(f"the bundled sample has {len(records)} barcodes: at most {len(records)} in all")
    out = []
    for i in range(n_clients):
        batch = records[i * n_barcodes : (i + 1) * n_barcodes]
        out.append(([r["id"] for r in batch], "".join(f">{r['id']}\n{r['sequence']}\n" for r in batch)))
    return out


def run_client(url: str, ids: list[str], text: str, timeout: float) -> dict:
    start = time.perf_counter()
    with httpx.Client(timeout=60) as client:
        answer = client.post(
            f"{url}/api/jobs",
            params={"name": "load.fasta"},
            content=text.encode(),
            headers={"Content-Type": "application/octet-stream"},  # the page's upload type; others get 415
        )
        if answer.status_code != 202:
            return {"ok": False, "error": f"{answer.status_code}: {answer.text[:200]}", "seconds": 0.0}
        job_id = answer.json()["id"]
        first_position = None
        while True:
            job = client.get(f"{url}/api/jobs/{job_id}").json()
            if first_position is None:
                first_position = job["position"]
            if job["state"] not in ("queued", "running"):
                break
            if time.perf_counter() - start > timeout:
                return {"ok": False, "error": "timed out", "seconds": time.perf_counter() - start}
            time.sleep(0.2)
    rows = job.get("rows") or []
    return {
        "ok": job["state"] == "done" and [r["id"] for r in rows] == ids,
        "rows": len(rows),
        "position": first_position,
        "model_seconds": job.get("seconds") or 0.0,
        "seconds": time.perf_counter() - start,
        "error": job.get("error"),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--barcodes", type=int, default=200, help="barcodes per upload")
    parser.add_argument("--queue-size", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=600, help="seconds a client waits for its job")
    args = parser.parse_args(argv)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "barcodefm.cli",
        "serve",
        "--port",
        str(port),
        "--queue-size",
        str(args.queue_size),
    ]
    started = time.perf_counter()
    log = tempfile.TemporaryFile("w+")  # not a pipe: a full pipe would stall the server
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        while True:
            try:
                httpx.get(f"{url}/api/info", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.perf_counter() - started > 300:
                    log.seek(0)
                    raise SystemExit(f"the server did not start:\n{log.read()}") from None
                time.sleep(0.5)
        startup = time.perf_counter() - started
        idle_rss = rss_mb(server.pid)
        fastas = sample_fastas(args.clients, args.barcodes)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            results = list(pool.map(lambda f: run_client(url, f[0], f[1], args.timeout), fastas))
        wall = time.perf_counter() - t0
        peak = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(30)

    total_rows = sum(r.get("rows", 0) for r in results)
    print(
        f"barcodefm serve load test: {args.clients} concurrent uploads x {args.barcodes} real COI barcodes, "
        f"bundled coi-insect model, 127.0.0.1; {os.cpu_count()} CPU(s), {platform.processor() or platform.machine()}"
    )
    print()
    print(
        "| client | rows returned | all rows, in order | queue position at upload | model time (s) | upload to result (s) |"
    )
    print("|---|---|---|---|---|---|")
    for i, r in enumerate(results, 1):
        print(
            f"| {i} | {r.get('rows', 0)} / {args.barcodes} | {'yes' if r['ok'] else 'NO: ' + str(r['error'])} | "
            f"{r.get('position', '')} | {r.get('model_seconds', 0.0):.1f} | {r['seconds']:.1f} |"
        )
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| server start-up (model, references, map) | {startup:.1f} s |")
    print(f"| wall time, all uploads | {wall:.1f} s |")
    print(f"| rows returned | {total_rows} of {args.clients * args.barcodes} |")
    print(f"| throughput | {total_rows / wall:.0f} barcodes/s |")
    print(f"| server memory when idle (RSS) | {idle_rss:.0f} MB |" if idle_rss else "| server memory when idle | n/a |")
    print(f"| server peak memory (VmHWM) | {peak:.0f} MB |" if peak else "| server peak memory | n/a (not Linux) |")
    ok = all(r["ok"] for r in results)
    print("\nPASS: every upload got every row back, in order" if ok else "\nFAIL: some uploads did not get every row")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
