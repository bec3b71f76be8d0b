"""What a command prints on stdout: one line per saved file (or per job), or with --json one JSON document."""

import base64
import json
import os
import re
import secrets

IMAGE_EXTENSIONS = ((b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"RIFF", ".webp"), (b"GIF8", ".gif"))


def job_result(job_id: str, label: str, stored: dict | None, state: str = "succeeded", error: dict | None = None,
               saved_files: list[str] | None = None, written_files: list[str] | None = None) -> dict:
    """One job's report: its saved files, seeds and infotexts (from the info A1111's API returns)."""
    info = json.loads(stored["info"]) if stored and stored.get("info") else {}
    report = {"job": job_id, "state": state, "saved_files": list(saved_files or (stored or {}).get("saved_files", [])),
              "seeds": info.get("all_seeds", []), "infotexts": info.get("infotexts", [])}
    if label:
        report["source"] = label
    if written_files is not None:
        report["written_files"] = written_files
    if error is not None:
        report["error"] = error
    return report


def file_stem(job_id: str) -> str:
    """task(txt2img-1a2b) -> txt2img-1a2b: a job id as a plain file name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "", job_id.removeprefix("task(").removesuffix(")")) or "job"


def write_images(images: list[str], out_dir: str, job_id: str) -> list[str]:
    """Base64 images (as /sdapi/v2's result holds them) written to out_dir as <job id>-<n>.<format>, each whole
    or not at all."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for number, text in enumerate(images):
        data = base64.b64decode(text.split(",", 1)[-1] if text.startswith("data:") else text)
        extension = next((ext for magic, ext in IMAGE_EXTENSIONS if data.startswith(magic)), ".bin")
        path = os.path.join(os.path.abspath(out_dir), f"{file_stem(job_id)}-{number}{extension}")
        temp_path = f"{path}.{secrets.token_hex(4)}.tmp"
        try:
            with open(temp_path, "wb") as file:
                file.write(data)
            os.replace(temp_path, path)
        finally:
            if os.path.exists(temp_path):
                os.remove(temp_path)
        written.append(path)
    return written


def print_results(results: list[dict], as_json: bool, stdout, stderr) -> None:
    if as_json:
        print(json.dumps({"jobs": results}, indent=2, ensure_ascii=False), file=stdout)
        return
    for result in results:
        for path in [*result["saved_files"], *result.get("written_files", [])]:
            print(path, file=stdout)
        seeds = ", ".join(str(seed) for seed in result["seeds"])
        where = f" ({result['source']})" if "source" in result else ""
        line = f"job {result['job']}{where}: {result['state']}"
        if result.get("error"):
            line += f": {result['error'].get('message')}"
        print(line + (f"; seeds {seeds}" if seeds else ""), file=stderr)


def print_jobs(jobs: list[dict], as_json: bool, stdout) -> None:
    if as_json:
        print(json.dumps({"jobs": jobs}, indent=2, ensure_ascii=False), file=stdout)
        return
    for job in jobs:
        progress = job.get("progress") or {}
        place = f" #{job['position']}" if job.get("position") else ""
        step = f" step {progress['step']}/{progress['steps']}" if progress else ""
        print(f"{job['id']}  {job['type']:<7}  {job['state']}{place}{step}  priority {job['priority']}", file=stdout)
