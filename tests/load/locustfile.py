"""The load test's users (run by `make loadtest`, see tests/load/run.py): donors using the portal and
staff working donor pages and reports, each signed in once and keeping their session."""
from __future__ import annotations

import itertools
import json
import os
import random
import re
from pathlib import Path

from locust import HttpUser, between, task

ACCOUNTS = json.loads(Path(os.environ["LOADTEST_ACCOUNTS"]).read_text())  # written by tests/load/run.py
PASSWORD, DONORS, STAFF, DONOR_IDS = ACCOUNTS["password"], ACCOUNTS["donors"], ACCOUNTS["staff"], ACCOUNTS["donor_ids"]
SEARCHES = ["receipt", "gift aid", "change my direct debit", "cancel", "sponsorship", "legacy", "tax",
            "update address", "points", "refund", "card", "annual statement"]
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_next_donor = itertools.count()


def sign_in(user: HttpUser, email: str) -> None:
    """Through the sign-in form, as a person would; a failure counts as an error of that page."""
    with user.client.get("/login", name="sign-in form", catch_response=True) as form:
        token = CSRF.search(form.text)
        if token is None:
            form.failure("no CSRF token on the sign-in form")
            return
    with user.client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
                          name="sign in", allow_redirects=False, catch_response=True) as response:
        if response.status_code != 303:
            response.failure(f"sign-in for {email} answered {response.status_code}")


class Donor(HttpUser):
    weight = 10
    wait_time = between(1, 3)

    def on_start(self) -> None:
        sign_in(self, DONORS[next(_next_donor) % len(DONORS)])

    @task(3)
    def home(self) -> None:
        self.client.get("/me", name="donor home")

    @task(2)
    def giving_history(self) -> None:
        self.client.get("/me/giving", name="giving history")

    @task(3)
    def help_search(self) -> None:
        self.client.get("/me/help", params={"q": random.choice(SEARCHES)}, headers={"HX-Request": "true"},
                        name="help search")


class Staff(HttpUser):
    weight = 1
    wait_time = between(1, 3)

    def on_start(self) -> None:
        sign_in(self, random.choice(STAFF))

    @task(3)
    def donor_page(self) -> None:
        self.client.get(f"/staff/donors/{random.choice(DONOR_IDS)}", name="staff donor page")

    @task(1)
    def donor_list(self) -> None:
        self.client.get("/staff/donors/", params={"q": random.choice("abcdefghjklmnoprstw")}, name="staff donor search")

    @task(1)
    def reports(self) -> None:
        self.client.get("/staff/insights/", name="staff reports")
