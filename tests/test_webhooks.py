"""Outgoing webhooks: subscriptions, signatures, and delivery by real RQ workers with retries.

A real embedded Redis, real forking RQ workers in burst mode with their scheduler, and a real HTTP
receiver on loopback that checks each signature as a subscriber would. Backoff is a whole second
(RQ schedules by whole seconds), so a retried delivery settles within a few seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.access import Actor
from engine.clock import ManualClock
from engine.config import get_settings
from engine.deadline.models import Deadline
from engine.errors import Forbidden, IllegalTransition, InvalidInput
from engine.notification.models import DeliveryState, WebhookDelivery, WebhookSubscription
from engine.notification.service import add_subscription, due_deliveries, failed_deliveries
from engine.notification.service import notify_step as notify_step_
from engine.notification.webhook import (
    encode_body,
    record_failure,
    record_success,
    sign,
    verify,
)
from engine.runtime import Runtime
from engine.vocabulary import AssignmentRole, CaseState, Trigger
from tests.builders import City, assignments_of, make_case
from workers.redis_server import EmbeddedRedis
from workers.rq_workers import ForkingWorker
from workers.webhooks import enqueue_deliveries, job_id

SECRET = "东城-webhook-secret-0123456789"
BACKOFF = (1, 2)  # three attempts in all
SETTLE_SECONDS = 30.0


# -- a subscriber on loopback --------------------------------------------------------------------


@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes
    status: int
    signature_ok: bool


@dataclass
class Receiver:
    """Answers POSTs with the scripted statuses (the last one repeats), checking signatures."""

    statuses: list[int]
    secret: str = SECRET
    hits: list[Hit] = field(default_factory=list)
    url: str = ""

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        self.hits.append(Hit(headers, body, status, self.signature_ok(headers, body)))
        return status

    def signature_ok(self, headers: dict[str, str], body: bytes) -> bool:
        """The receiver's side of the documented scheme, written out without our helpers."""
        timestamp = headers.get("X-Whistle-Timestamp", "")
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= 300
        material = timestamp.encode() + b"." + body
        expected = hmac.new(self.secret.encode(), material, hashlib.sha256).hexdigest()
        given = headers.get("X-Whistle-Signature", "")
        return fresh and hmac.compare_digest(f"sha256={expected}", given)

    @property
    def delivered(self) -> list[Hit]:
        return [h for h in self.hits if 200 <= h.status < 300]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(statuses=[200])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = state.answer(dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/whistle"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# -- Redis, queue and worker ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(data_dir=tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def queue(
    redis_server: EmbeddedRedis, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Queue]:
    """An empty queue; the work horses it forks read this test's database from the settings."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    get_settings.cache_clear()
    connection = redis.Redis.from_url(redis_server.url)
    connection.flushall()
    yield Queue("webhooks", connection=connection)
    connection.close()
    get_settings.cache_clear()


def run_worker(queue: Queue) -> None:
    """One burst of a real (forking) worker; its scheduler first moves the retries now due."""
    # The worker takes over SIGINT and SIGTERM; give them back so Ctrl-C still stops pytest.
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        ForkingWorker([queue], connection=queue.connection).work(
            burst=True, with_scheduler=True, logging_level="WARNING"
        )
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def settle(queue: Queue, factory: sessionmaker[Session], delivery_id: int) -> WebhookDelivery:
    """Run bursts until the delivery is final and RQ holds nothing more for it."""
    scheduled = ScheduledJobRegistry(queue=queue)
    give_up = time.monotonic() + SETTLE_SECONDS
    while True:
        run_worker(queue)
        with factory() as s:
            delivery = s.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        done = delivery.state != DeliveryState.PENDING
        if done and queue.count == 0 and scheduled.count == 0:
            return delivery
        if time.monotonic() > give_up:
            pytest.fail(f"delivery {delivery_id} still {delivery.state} after {SETTLE_SECONDS} s")
        time.sleep(0.1)


# -- building a delivery -------------------------------------------------------------------------


def admin(session: Session, city: City) -> Actor:
    return city.actor(session, "admin")


def subscribe(session: Session, city: City, clock: ManualClock, url: str) -> WebhookSubscription:
    """城管委 subscribes ``url`` to every kind."""
    return add_subscription(
        session=session, actor=admin(session, city), org_id=city.departments[0].id, url=url,
        secret=SECRET, now=clock.now(),
    )  # fmt: skip


def overdue_delivery(
    session: Session, rt: Runtime, city: City, clock: ManualClock, url: str, **draft: str
) -> int:
    """An overdue step on 城管委's accept clock, for one subscription of 城管委: its delivery id."""
    subscribe(session, city, clock, url)
    case = make_case(session, rt, city, clock, state=CaseState.ASSIGNED, **draft)
    lead = next(a for a in assignments_of(session, case.id) if a.role == AssignmentRole.LEAD)
    deadline = session.scalars(
        select(Deadline).where(Deadline.assignment_id == lead.id, Deadline.clock == "accept")
    ).one()
    (delivery_id,) = notify_step_(
        session, case=case, deadline=deadline, step=Trigger.OVERDUE, now=clock.now()
    )
    session.commit()
    return delivery_id


# -- the signature, as pure functions ------------------------------------------------------------


def test_sign__is_hmac_sha256_keyed_by_the_secret_over_timestamp_dot_body() -> None:
    body = encode_body({"case": {"title": "路灯不亮"}, "event": "overdue"})

    signature = sign(SECRET, "1772413200", body)

    expected = hmac.new(SECRET.encode(), b"1772413200." + body, hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}"
    assert body == '{"case":{"title":"路灯不亮"},"event":"overdue"}'.encode()


def test_verify__accepts_a_fresh_signature_and_refuses_tampering_a_wrong_secret_or_a_replay() -> (
    None
):
    body = encode_body({"event": "red"})
    sent = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    timestamp = str(int(sent.timestamp()))
    good = sign(SECRET, timestamp, body)

    def ok(
        *, secret: str = SECRET, body: bytes = body, timestamp: str = timestamp,
        signature: str = good, now: datetime = sent + timedelta(seconds=30),
    ) -> bool:  # fmt: skip
        return verify(secret, body, timestamp=timestamp, signature=signature, now=now)

    assert ok()
    assert not ok(body=encode_body({"event": "remind"}))
    assert not ok(secret="another-secret-0123456789")
    assert not ok(now=sent + timedelta(minutes=6))  # replayed later
    assert not ok(timestamp=str(int(sent.timestamp()) + 60))  # timestamp moved, signature not
    assert not ok(timestamp="１７７２")  # full-width digits are no timestamp
    assert not ok(signature="sha256=路灯")


def test_record_success__of_a_delivery_no_longer_pending_is_an_illegal_transition() -> None:
    now = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    delivery = WebhookDelivery(id=7, body={}, state=DeliveryState.PENDING, attempts=0)
    record_failure(delivery, status_code=500, error="HTTP 500", now=now, retry_at=None)

    with pytest.raises(IllegalTransition, match="delivery 7 is 'failed'"):
        record_success(delivery, status_code=200, now=now)

    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == (
        DeliveryState.FAILED, 1, None,
    )  # fmt: skip


# -- subscriptions -------------------------------------------------------------------------------


def test_add_subscription__stores_url_secret_and_kinds_for_the_org_node(
    session: Session, city: City, clock: ManualClock
) -> None:
    sub = add_subscription(
        session=session, actor=admin(session, city), org_id=city.streets[0].id,
        url="https://hooks.example.org/东华门?x=1", secret=SECRET,
        kinds=[Trigger.OVERDUE, Trigger.RED, Trigger.OVERDUE], now=clock.now(),
    )  # fmt: skip

    session.expire_all()
    stored = session.get(WebhookSubscription, sub.id)
    assert stored is not None
    assert (stored.org_id, stored.url, stored.secret, stored.active, stored.kinds) == (
        city.streets[0].id, "https://hooks.example.org/东华门?x=1", SECRET, True,
        ["overdue", "red"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("url", "ftp://hooks.example.org/in", "expected http or https"),
        ("url", "hooks.example.org/in", "expected http or https"),
        ("url", "https:///in", "names no host"),
        ("url", "https://user:pw@hooks.example.org/in", "credentials in the URL"),
        ("url", "https://hooks.example.org:99999/in", "is not a URL"),
        ("secret", "fifteen-chars!!", "expected 16..200 characters, got 15"),
        ("org_id", 9999, "no active org node 9999"),
        ("org_id", "community", "is a community, which receives no notifications"),
        ("kinds", ["overdue", "escalate"], r"unknown kinds \['escalate'\]"),
    ],
)
def test_add_subscription__bad_input_is_invalid_and_writes_nothing(
    session: Session, city: City, clock: ManualClock, field: str, value: object, message: str
) -> None:
    args: dict[str, object] = {
        "org_id": city.departments[0].id, "url": "https://hooks.example.org/in",
        "secret": SECRET, "kinds": [],
    }  # fmt: skip
    args[field] = city.communities[0].id if value == "community" else value

    with pytest.raises(InvalidInput, match=message):
        add_subscription(session=session, actor=admin(session, city), now=clock.now(), **args)

    assert session.scalar(select(func.count()).select_from(WebhookSubscription)) == 0


def test_add_subscription__only_an_admin_may_subscribe(
    session: Session, city: City, clock: ManualClock
) -> None:
    with pytest.raises(Forbidden, match="only an admin may"):
        add_subscription(
            session=session, actor=city.actor(session, "dept_um"), org_id=city.departments[0].id,
            url="https://hooks.example.org/in", secret=SECRET, now=clock.now(),
        )  # fmt: skip

    assert session.scalar(select(func.count()).select_from(WebhookSubscription)) == 0


# -- delivery by RQ workers ----------------------------------------------------------------------


def test_deliver__sends_the_body_signed_with_the_secret_and_a_fresh_timestamp(
    session: Session, session_factory: sessionmaker[Session], rt: Runtime, city: City,
    clock: ManualClock, queue: Queue, receiver: Receiver,
) -> None:  # fmt: skip
    delivery_id = overdue_delivery(session, rt, city, clock, receiver.url)

    assert enqueue_deliveries(queue, [delivery_id], backoff=BACKOFF) == [delivery_id]
    delivery = settle(queue, session_factory, delivery_id)

    (hit,) = receiver.hits
    assert hit.signature_ok
    assert hit.headers["X-Whistle-Delivery"] == str(delivery_id)
    assert hit.headers["X-Whistle-Event"] == Trigger.OVERDUE
    assert hit.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(hit.body) == delivery.body
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (
        DeliveryState.DELIVERED, 1, 200,
    )  # fmt: skip
    assert delivery.delivered_at is not None
    assert Job.fetch(job_id(delivery_id), connection=queue.connection).get_status() == (
        JobStatus.FINISHED
    )


def test_deliver__a_receiver_failing_twice_gets_the_body_once_and_it_ends_delivered_in_3_attempts(
    session: Session, session_factory: sessionmaker[Session], rt: Runtime, city: City,
    clock: ManualClock, queue: Queue, receiver: Receiver,
) -> None:  # fmt: skip
    receiver.statuses = [500, 500, 200]
    delivery_id = overdue_delivery(session, rt, city, clock, receiver.url)
    enqueue_deliveries(queue, [delivery_id], backoff=BACKOFF)

    run_worker(queue)  # the first attempt only: the retry waits a second in the scheduler
    with session_factory() as s:
        first = s.get(WebhookDelivery, delivery_id)
    assert first is not None
    assert (first.state, first.attempts, first.last_status_code) == (
        DeliveryState.PENDING, 1, 500,
    )  # fmt: skip
    assert first.last_attempt_at is not None
    assert first.next_attempt_at == first.last_attempt_at + timedelta(seconds=BACKOFF[0])
    assert job_id(delivery_id) in ScheduledJobRegistry(queue=queue).get_job_ids()

    delivery = settle(queue, session_factory, delivery_id)

    assert [h.status for h in receiver.hits] == [500, 500, 200]
    assert len(receiver.delivered) == 1
    assert len({h.body for h in receiver.hits}) == 1  # the same bytes every time
    assert all(h.signature_ok for h in receiver.hits)
    assert (delivery.state, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        DeliveryState.DELIVERED, 3, 200, None,
    )  # fmt: skip
    assert delivery.next_attempt_at is None


def test_deliver__a_delivered_delivery_enqueued_again_is_never_sent_again(
    session: Session, session_factory: sessionmaker[Session], rt: Runtime, city: City,
    clock: ManualClock, queue: Queue, receiver: Receiver,
) -> None:  # fmt: skip
    delivery_id = overdue_delivery(session, rt, city, clock, receiver.url)
    enqueue_deliveries(queue, [delivery_id], backoff=BACKOFF)
    before = settle(queue, session_factory, delivery_id)

    assert enqueue_deliveries(queue, [delivery_id], backoff=BACKOFF) == [delivery_id]
    after = settle(queue, session_factory, delivery_id)

    assert len(receiver.hits) == 1
    assert (after.state, after.attempts, after.delivered_at) == (
        DeliveryState.DELIVERED, 1, before.delivered_at,
    )  # fmt: skip


def test_deliver__a_receiver_that_always_fails_ends_failed_with_its_last_status_and_is_listed(
    session: Session, session_factory: sessionmaker[Session], rt: Runtime, city: City,
    clock: ManualClock, queue: Queue, receiver: Receiver,
) -> None:  # fmt: skip
    receiver.statuses = [503]
    delivery_id = overdue_delivery(session, rt, city, clock, receiver.url)
    enqueue_deliveries(queue, [delivery_id], backoff=BACKOFF)

    delivery = settle(queue, session_factory, delivery_id)

    assert len(receiver.hits) == 3
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (
        DeliveryState.FAILED, 3, 503,
    )  # fmt: skip
    assert delivery.last_error is not None
    assert delivery.last_error.startswith("HTTP 503 Service Unavailable")
    assert (delivery.next_attempt_at, delivery.delivered_at) == (None, None)
    assert job_id(delivery_id) in FailedJobRegistry(queue=queue).get_job_ids()
    with session_factory() as s:
        listed = failed_deliveries(session=s, actor=city.actor(s, "admin"))
        own = failed_deliveries(session=s, actor=city.actor(s, "dept_um"))
        other = failed_deliveries(session=s, actor=city.actor(s, "dept_water"))
    assert [d.id for d in listed] == [d.id for d in own] == [delivery_id]
    assert other == []


def test_deliver__a_refused_connection_ends_failed_with_the_error_after_its_retries(
    session: Session, session_factory: sessionmaker[Session], rt: Runtime, city: City,
    clock: ManualClock, queue: Queue,
) -> None:  # fmt: skip
    with socket.socket() as bound:  # bound and never listening: the kernel refuses connections
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        delivery_id = overdue_delivery(session, rt, city, clock, f"http://127.0.0.1:{port}/in")
        enqueue_deliveries(queue, [delivery_id], backoff=(1,))

        delivery = settle(queue, session_factory, delivery_id)

    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (
        DeliveryState.FAILED, 2, None,
    )  # fmt: skip
    assert delivery.last_error is not None
    assert "ConnectionRefusedError" in delivery.last_error


def test_deliver__a_redirect_is_a_failure_and_not_followed(
    session: Session, session_factory: sessionmaker[Session], rt: Runtime, city: City,
    clock: ManualClock, queue: Queue, receiver: Receiver,
) -> None:  # fmt: skip
    receiver.statuses = [302]
    delivery_id = overdue_delivery(session, rt, city, clock, receiver.url)
    enqueue_deliveries(queue, [delivery_id], backoff=())  # one attempt, no retries

    delivery = settle(queue, session_factory, delivery_id)

    assert len(receiver.hits) == 1
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (
        DeliveryState.FAILED, 1, 302,
    )  # fmt: skip


def test_deliver__chinese_text_travels_as_utf8_and_round_trips(
    session: Session, session_factory: sessionmaker[Session], rt: Runtime, city: City,
    clock: ManualClock, queue: Queue, receiver: Receiver,
) -> None:  # fmt: skip
    title = "东华门大街“井盖”缺失——请速处理"
    delivery_id = overdue_delivery(session, rt, city, clock, receiver.url, title=title)
    enqueue_deliveries(queue, [delivery_id], backoff=BACKOFF)

    settle(queue, session_factory, delivery_id)

    (hit,) = receiver.hits
    assert title.encode("utf-8") in hit.body
    assert b"\\u" not in hit.body  # not escaped to ASCII
    received = json.loads(hit.body.decode("utf-8"))
    assert received["case"]["title"] == title
    assert received["title_zh"].startswith("【超时】")
    assert title in received["title_zh"]


# -- enqueueing ----------------------------------------------------------------------------------


def test_enqueue_deliveries__uses_job_id_wh_delivery_and_skips_one_already_queued(
    session: Session, rt: Runtime, city: City, clock: ManualClock, queue: Queue,
    receiver: Receiver,
) -> None:  # fmt: skip
    delivery_id = overdue_delivery(session, rt, city, clock, receiver.url)

    first = enqueue_deliveries(queue, [delivery_id], backoff=BACKOFF)
    second = enqueue_deliveries(queue, [delivery_id], backoff=BACKOFF)

    assert (first, second) == ([delivery_id], [])
    assert queue.get_job_ids() == [f"wh-{delivery_id}"]
    job = Job.fetch(f"wh-{delivery_id}", connection=queue.connection)
    assert (job.args, job.retries_left, job.retry_intervals) == ((delivery_id,), 2, [1, 2])


def test_due_deliveries__finds_a_pending_delivery_whose_job_redis_lost_so_it_is_still_delivered(
    session: Session, session_factory: sessionmaker[Session], rt: Runtime, city: City,
    clock: ManualClock, queue: Queue, receiver: Receiver,
) -> None:  # fmt: skip
    delivery_id = overdue_delivery(session, rt, city, clock, receiver.url)
    enqueue_deliveries(queue, [delivery_id], backoff=BACKOFF)
    queue.connection.flushall()  # Redis comes back empty

    due = due_deliveries(session, now=clock.now())
    enqueued = enqueue_deliveries(queue, due, backoff=BACKOFF)
    delivery = settle(queue, session_factory, delivery_id)

    assert due == enqueued == [delivery_id]
    assert due_deliveries(session, now=clock.now() - timedelta(seconds=1)) == []
    assert delivery.state == DeliveryState.DELIVERED
    assert len(receiver.hits) == 1
