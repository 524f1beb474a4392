"""The app as gunicorn serves it for bench_selfservice, plus a trivial route to compare throughput against.

Configured by the environment the benchmark sets (DATABASE_URL, SECRET_KEY), like a production process."""
from portal import create_app

app = create_app()


@app.get("/bench/trivial")
def trivial() -> str:
    return "ok"
