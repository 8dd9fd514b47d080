"""``chatwatch plan``: seed 004's inputs read from report rows (DOMAIN.md §7 field names),
overrides, missing history, and the hourly plan from a log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from stream.cli import cli
from stream.core.staffing import agents_needed
from stream.plan import PlanError


def _write(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _day(day: str, **orders: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"shop_id": "s1", "day": day, "consultations": 400, "unreplied": 40,
                           "reply_rate": 0.9, "waits": 600, "waits_breached": 50,
                           "responses": 550, "mean_response_seconds": 40.0,
                           "fast_responses": 100}
    row.update(orders)
    return row


def _agent(agent: str, day: str, consultations: int) -> dict[str, Any]:
    return {"shop_id": "s1", "agent": agent, "day": day, "consultations": consultations,
            "unreplied": 0, "reply_rate": 1.0, "waits": consultations, "waits_breached": 0,
            "responses": consultations, "mean_response_seconds": 30.0, "fast_responses": 0}


def _history(tmp_path: Path) -> tuple[str, str]:
    # two days: 1,000 inquiries, 250 paid buyers, 25,000.00 yuan through chat, 2,500.00
    # refunded, 25,000.00 of silent orders -> AOV 100, conversion 25 %, return 10 %, share 50 %
    report = _write(tmp_path / "daily.jsonl", [
        _day("2026-10-01", inquiries=600, paid_buyers=150, conversion_rate=0.25,
             chat_sales="15000.00", refunds="1000.00", avg_order_value="100.00",
             silent_orders=100, silent_sales="15000.00"),
        _day("2026-10-02", inquiries=400, paid_buyers=100, conversion_rate=0.25,
             chat_sales="10000.00", refunds="1500.00", avg_order_value="100.00",
             silent_orders=80, silent_sales="10000.00"),
    ])
    # ten agent-days of 10..100 consultations: p90 = 91; unassigned left out
    agents = _write(tmp_path / "agents.jsonl", [
        *(_agent(f"a{k}", "2026-10-01" if k < 5 else "2026-10-02", 10 * (k + 1))
          for k in range(10)),
        _agent("unassigned", "2026-10-01", 5000)])
    return report, agents


def _plan(*args: str) -> Any:
    return CliRunner().invoke(cli, ["plan", *args])


def _refused(result: Any) -> str:
    """The PlanError message of a refused plan (``chatwatch`` prints it and exits 2)."""
    assert isinstance(result.exception, PlanError), result.output
    return str(result.exception)


def test_every_input_observed_from_the_report_rows(tmp_path: Path) -> None:
    report, agents = _history(tmp_path)
    result = _plan("--report", report, "--agent-report", agents, "--sales", "5000000",
                   "--date", "2026-11-11", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    inputs = plan["inputs"]
    assert inputs["avg_order_value"]["value"] == "100.00"
    assert inputs["conversion_rate"]["value"] == 0.25
    assert inputs["return_rate"]["value"] == 0.1
    assert inputs["chat_share"]["value"] == 0.5
    assert inputs["max_per_agent"]["value"] == 91.0
    assert all(i["source"].startswith("observed") for i in inputs.values())
    assert "silent_sales" in inputs["chat_share"]["source"]
    assert "p90 of 10 agent-days" in inputs["max_per_agent"]["source"]
    # 5,000,000 ÷ 100 = 50,000 orders × 0.5 ÷ 0.25 = 100,000 inquiries ÷ 91 = 1,098.9 -> 1,099
    assert plan["orders"] == 50_000 and plan["inquiries"] == 100_000
    assert plan["presale_agents"] == 1099
    # 50,000 × 0.1 ÷ 91 = 54.9 -> 55
    assert plan["aftersale_agents"] == 55
    assert plan["date"] == "2026-11-11"
    assert plan["hours"] == []  # a report has no hourly profile
    assert plan["warnings"] == [
        "the history covers 2 day(s) (2026-10-01 to 2026-10-02), fewer than 7: the observed "
        "inputs are those of a short stretch, which may miss weekdays, promotions and quiet "
        "days; plan from a longer history or give the inputs you know"]
    assert any("--input" in n for n in plan["notes"])


def test_given_values_override_and_say_so(tmp_path: Path) -> None:
    report, agents = _history(tmp_path)
    result = _plan("--report", report, "--agent-report", agents, "--orders", "10000",
                   "--conversion-rate", "20%", "--max-per-agent", "200", "--percentile", "50",
                   "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["inputs"]["conversion_rate"] == {"value": 0.2,
                                                 "source": "given: --conversion-rate"}
    assert plan["inputs"]["max_per_agent"]["source"] == "given: --max-per-agent"
    # 10,000 × 0.5 ÷ 0.2 ÷ 200 = 125; after-sale 10,000 × 0.1 ÷ 200 = 5
    assert (plan["presale_agents"], plan["aftersale_agents"]) == (125, 5)
    assert plan["sales"] == "1000000.00"  # orders × the observed AOV


def test_the_table_shows_values_sources_and_the_formula(tmp_path: Path) -> None:
    report, agents = _history(tmp_path)
    result = _plan("--report", report, "--agent-report", agents, "--sales", "5000000")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "average order value" in out and "100.00 yuan" in out
    assert "observed: paid_buyers ÷ inquiries over 2 day(s) of the report" in out
    assert "= 1,098.9 → 1,099" in out and "= 54.9 → 55" in out


def test_history_without_orders_names_the_inputs_to_supply(tmp_path: Path) -> None:
    report = _write(tmp_path / "daily.jsonl", [_day("2026-10-01"), _day("2026-10-02")])
    agents = _write(tmp_path / "agents.jsonl", [_agent("a1", "2026-10-01", 50)])
    message = _refused(_plan("--report", report, "--agent-report", agents, "--sales",
                             "5000000"))
    assert "the history has no orders" in message
    for flag in ("--avg-order-value", "--chat-share", "--conversion-rate", "--return-rate"):
        assert flag in message
    assert "--max-per-agent" not in message  # observed from the agent rows
    # orders without silent_sales: the total is unknown, so the share must be given
    report = _write(tmp_path / "daily2.jsonl", [
        _day("2026-10-01", inquiries=100, paid_buyers=10, chat_sales="900.00",
             refunds="0.00", avg_order_value="90.00", conversion_rate=0.1)])
    message = _refused(_plan("--report", report, "--agent-report", agents, "--sales",
                             "5000000"))
    assert "total shop sales are not in the history" in message
    assert "supply --chat-share" in message
    result = _plan("--report", report, "--agent-report", agents, "--sales", "9000",
                   "--chat-share", "0.5", "--json")
    assert result.exit_code == 0, result.output
    # 9,000 ÷ 90 = 100 orders × 0.5 ÷ 0.1 = 500 inquiries ÷ 50 per agent-day = 10
    assert json.loads(result.stdout)["presale_agents"] == 10


def _log(path: Path) -> str:
    # shop s1 (taobao: 300 s window, 70 %): waits at 10:xx and 20:xx local time, 3 at 20:00
    # for each 1 at 10:00; agent a1 answers each 30 s after it opened.
    lines = []
    n = 0
    for day in ("2026-10-01", "2026-10-02"):
        for hour, count in ((10, 5), (20, 15)):
            for k in range(count):
                n += 1
                ts = f"{day}T{hour}:{k * 2:02d}:00+08:00"
                reply = f"{day}T{hour}:{k * 2:02d}:30+08:00"
                base = {"shop_id": "s1", "buyer_id": f"b{n}", "platform": "taobao",
                        "type": "message"}
                lines.append({**base, "event_id": f"q{n}", "ts": ts, "sender": "buyer",
                              "text": "在吗"})
                lines.append({**base, "event_id": f"r{n}", "ts": reply, "sender": "agent",
                              "agent_id": "a1", "text": "在的"})
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines),
                    encoding="utf-8")
    return str(path)


def test_a_log_gives_the_hourly_plan(tmp_path: Path) -> None:
    log = _log(tmp_path / "log.jsonl")
    args = ["--input", log, "--orders", "1000", "--avg-order-value", "100", "--chat-share",
            "1", "--conversion-rate", "0.5", "--return-rate", "0.1"]
    # a1 held none of the waits when they opened (each buyer's first wait is unassigned,
    # DOMAIN.md §3 rule 6), so no agent-day shows a consultation: the maximum must be given
    assert "supply --max-per-agent" in _refused(_plan(*args))
    result = _plan(*args, "--max-per-agent", "100", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    hours = {h["hour"]: h for h in plan["hours"]}
    inquiries = plan["inquiries"]  # 1000 × 1 ÷ 0.5 = 2000
    assert inquiries == 2000
    assert hours[10]["inquiries"] == 500.0 and hours[20]["inquiries"] == 1500.0
    assert plan["waits_per_inquiry"] == 1.0
    assert plan["handle_seconds"]["value"] == 30.0
    assert "busy time per reply" in plan["handle_seconds"]["source"]
    assert hours[20]["agents"] == agents_needed(1500 / 3600, 30.0, 300, 0.7)
    assert hours[3]["agents"] == 0


def test_a_log_with_orders_observes_the_order_inputs(tmp_path: Path) -> None:
    # the log's order events give the §7 inputs, the same ones `backfill --report` writes:
    # planning from the log and from its saved report agree
    log = tmp_path / "sim.jsonl"
    made = CliRunner().invoke(cli, ["simulate", "--out", str(log), "--events", "20000",
                                    "--shops", "1", "--seed", "7"])
    assert made.exit_code == 0, made.output
    assert '"type":"order"' in log.read_text(encoding="utf-8")
    report = tmp_path / "daily.jsonl"
    agents = tmp_path / "agents.jsonl"
    for out, extra in ((report, []), (agents, ["--by", "agent"])):
        done = CliRunner().invoke(cli, ["backfill", "--input", str(log), "--report", str(out),
                                        *extra])
        assert done.exit_code == 0, done.output
    from_log = _plan("--input", str(log), "--sales", "5000000", "--json")
    assert from_log.exit_code == 0, from_log.output
    live = json.loads(from_log.stdout)
    saved = json.loads(_plan("--report", str(report), "--agent-report", str(agents),
                             "--sales", "5000000", "--json").stdout)
    for key in ("avg_order_value", "chat_share", "conversion_rate", "return_rate"):
        assert live["inputs"][key]["source"].startswith("observed"), live["inputs"][key]
        assert live["inputs"][key]["value"] == saved["inputs"][key]["value"], key
    assert live["presale_agents"] == saved["presale_agents"] > 0


# --- Erlang C as contact centres do it, and the shift roster ----------------------------------

TEXTBOOK = ["--contacts", "100", "--interval-minutes", "30", "--handle-seconds", "180",
            "--answer-within", "20", "--target", "0.8"]


def _shifts(path: Path, *templates: str) -> str:
    path.write_text("shifts:\n" + "".join(f"  - {t}\n" for t in templates), encoding="utf-8")
    return str(path)


def test_plan_reproduces_the_textbook_erlang_c_case(tmp_path: Path) -> None:
    # 100 contacts per 30 minutes, 180 s handling, 80 % within 20 s: 14 agents on duty, service
    # level 0.888, occupancy 0.714, average wait 7.8 s, 20 on the roster at 30 % shrinkage
    result = _plan(*TEXTBOOK, "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["kpi"] == {"name": "pickup", "window_seconds": 20.0, "target": 0.8,
                           "answered": "pickup"}
    assert plan["shrinkage"] == 0.3 and plan["concurrency"] == 1.0
    assert len(plan["hours"]) == 24
    for hour in plan["hours"]:
        assert hour["contacts_per_hour"] == 200 and hour["traffic"] == 10.0
        assert hour["on_duty"] == 14 and hour["rostered"] == 20
        assert round(hour["service_level"], 3) == 0.888
        assert round(hour["occupancy"], 3) == 0.714
        assert round(hour["average_wait_seconds"], 1) == 7.8
    assert plan["roster"] is None
    table = _plan(*TEXTBOOK).output
    assert "00:00-24:00" in table
    assert "14    88.8%     71.4%     7.8 s      20" in table
    # without shrinkage the roster is the on-duty figure; 2 chats at once halve the load
    assert json.loads(_plan(*TEXTBOOK, "--shrinkage", "0", "--json").stdout)["hours"][0][
        "rostered"] == 14
    paired = json.loads(_plan(*TEXTBOOK, "--concurrency", "2", "--json").stdout)["hours"][0]
    assert paired["traffic"] == 5.0 and paired["on_duty"] < 14
    # at most 70 % busy: ⌈10 ÷ 0.7⌉ = 15 on duty, 22 on the roster
    capped = json.loads(_plan(*TEXTBOOK, "--max-occupancy", "70%", "--json").stdout)
    assert capped["max_occupancy"] == 0.7
    assert (capped["hours"][0]["on_duty"], capped["hours"][0]["rostered"]) == (15, 22)
    assert "occupancy at most 70%" in _plan(*TEXTBOOK, "--max-occupancy", "0.7").output


def test_plan_shifts_rosters_the_textbook_case(tmp_path: Path) -> None:
    # three 8-hour shifts round the clock, each hour needing 20 on the roster: 20 on each
    shifts = _shifts(tmp_path / "shifts.yml", "{name: night, start: '00:00', hours: 8}",
                     "{name: day, start: '08:00', hours: 8}",
                     "{name: evening, start: '16:00', hours: 8}")
    result = _plan(*TEXTBOOK, "--shifts", shifts, "--json")
    assert result.exit_code == 0, result.output
    roster = json.loads(result.stdout)["roster"]
    assert [s["agents"] for s in roster["shifts"]] == [20, 20, 20]
    assert roster["total_agents"] == 60 and roster["agent_hours"] == 480
    assert all(h["need"] == h["cover"] == 20 for h in roster["hours"])
    table = _plan(*TEXTBOOK, "--shifts", shifts).output
    assert "total: 60 agents, 480 paid agent-hours" in table


def test_a_roster_of_a_given_load_checked_by_hand(tmp_path: Path) -> None:
    # 100 contacts per 30 min at 08-12 (14 on duty -> 20 rostered), 50 at 12-16 (8 -> 12:
    # 8 ÷ 0.7 = 11.4). Templates A 08-12, B 12-16 (4 h) and C 08-16 (8 h). 08:00 needs 20,
    # so 20 agents at least, and then B = 0 (A + C >= 20 already), C >= 12 for the afternoon;
    # paid hours 4 A + 8 C = 80 + 4 C are fewest at C = 12, A = 8: 128 agent-hours.
    shifts = _shifts(tmp_path / "shifts.yml", "{name: A, start: '08:00', hours: 4}",
                     "{name: B, start: '12:00', hours: 4}",
                     "{name: C, start: '08:00', hours: 8}")
    args = [*TEXTBOOK, "--shifts", shifts, "--json"]
    args[1] = "8-12=100,12-16=50"
    result = _plan(*args)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert [(h["hour"], h["on_duty"], h["rostered"]) for h in plan["hours"]] == [
        *((h, 14, 20) for h in range(8, 12)), *((h, 8, 12) for h in range(12, 16))]
    roster = plan["roster"]
    assert [s["agents"] for s in roster["shifts"]] == [8, 0, 12]
    assert roster["total_agents"] == 20 and roster["agent_hours"] == 128
    cover = {h["hour"]: (h["need"], h["cover"]) for h in roster["hours"] if h["need"]}
    assert cover == {**{h: (20, 20) for h in range(8, 12)}, **{h: (12, 12) for h in range(12, 16)}}


def test_templates_that_leave_an_hour_uncovered_are_refused_naming_it(tmp_path: Path) -> None:
    from stream.roster import RosterError

    shifts = _shifts(tmp_path / "shifts.yml",
                     "{name: early, start: '08:00', hours: 9, break: '12:00'}",
                     "{name: late, start: '14:00', hours: 9}")
    args = [*TEXTBOOK, "--shifts", shifts]
    args[1] = "8-23=100"
    result = _plan(*args)
    assert isinstance(result.exception, RosterError), result.output
    assert str(result.exception).startswith("no shift template works 12:00 (need 20)")
    assert "08:00" not in str(result.exception)


def test_a_short_history_warns_and_says_what_it_assumed(tmp_path: Path) -> None:
    log = _log(tmp_path / "log.jsonl")  # two days, waits only at 10:xx and 20:xx
    result = _plan("--input", log, "--orders", "1000", "--avg-order-value", "100",
                   "--chat-share", "1", "--conversion-rate", "0.5", "--return-rate", "0.1",
                   "--max-per-agent", "100", "--json")
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout)["warnings"]
    assert len(warnings) == 2
    assert warnings[0].startswith("the history covers 2 day(s) (2026-10-01 to 2026-10-02), "
                                  "fewer than 7")
    assert warnings[1].startswith("no waits in the history at 00:00-10:00, 11:00-20:00, "
                                  "21:00-24:00 (22 of 24 hours): the plan assumes nobody "
                                  "writes then")
    assert "warning: the history covers 2 day(s)" in result.stderr  # beside the JSON
    table = _plan("--input", log, "--orders", "1000", "--avg-order-value", "100",
                  "--chat-share", "1", "--conversion-rate", "0.5", "--return-rate", "0.1",
                  "--max-per-agent", "100")
    assert table.stdout.count("warning: ") == 2 and "warning: " not in table.stderr


def test_a_log_plan_rosters_its_hours(tmp_path: Path) -> None:
    log = _log(tmp_path / "log.jsonl")
    args = ["--input", log, "--orders", "1000", "--avg-order-value", "100", "--chat-share",
            "1", "--conversion-rate", "0.5", "--return-rate", "0.1", "--max-per-agent", "100"]
    # one template 09:00-22:00 with a break at 15:00 works both busy hours (10 and 20): its
    # agents are the larger of the two hours' roster needs
    shifts = _shifts(tmp_path / "shifts.yml",
                     "{name: long, start: '09:00', hours: 13, break: '15:00'}")
    result = _plan(*args, "--shifts", shifts, "--shrinkage", "25%", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    hours = {h["hour"]: h for h in plan["hours"]}
    assert plan["shrinkage"] == 0.25
    need = max(hours[10]["rostered"], hours[20]["rostered"])
    assert hours[20]["rostered"] == -(-hours[20]["on_duty"] * 4 // 3)  # ⌈on duty ÷ 0.75⌉
    assert [s["agents"] for s in plan["roster"]["shifts"]] == [need]
    # a wait's handling is observed (30 s, one buyer at a time); --concurrency 2 halves the
    # agent's time per wait
    assert plan["concurrency"]["value"] == 1.0
    assert plan["concurrency"]["source"].startswith("observed")
    paired = json.loads(_plan(*args, "--concurrency", "2", "--json").stdout)
    assert paired["concurrency"] == {"value": 2.0, "source": "given: --concurrency"}
    assert paired["hours"][20]["agents"] == agents_needed(1500 / 3600, 15.0, 300, 0.7)
    # a report has no hours to roster
    report, agents = _history(tmp_path)
    refused = _refused(_plan("--report", report, "--agent-report", agents, "--sales", "5000",
                             "--shifts", shifts))
    assert "--shifts rosters the hourly plan" in refused


def test_concurrency_is_observed_from_the_log(tmp_path: Path) -> None:
    # every day at 10:00 two buyers write at once; a1 answers one after 30 s and the other
    # after 60 s: busy 30 s + 30 s, responses 30 s + 60 s -> 1.5 buyers at once, and a wait's
    # handling is the mean response, 45 s (= 30 s busy per reply × 1.5)
    lines = []
    for d, day in enumerate(("2026-10-01", "2026-10-02")):
        for k, reply in ((1, "10:00:30"), (2, "10:01:00")):
            base = {"shop_id": "s1", "buyer_id": f"b{d}{k}", "platform": "taobao",
                    "type": "message"}
            lines.append({**base, "event_id": f"q{d}{k}", "ts": f"{day}T10:00:00+08:00",
                          "sender": "buyer", "text": "在吗"})
            lines.append({**base, "event_id": f"r{d}{k}", "ts": f"{day}T{reply}+08:00",
                          "sender": "agent", "agent_id": "a1", "text": "在的"})
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines),
                   encoding="utf-8")
    result = _plan("--input", str(log), "--orders", "1000", "--avg-order-value", "100",
                   "--chat-share", "1", "--conversion-rate", "0.5", "--return-rate", "0.1",
                   "--max-per-agent", "100", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["concurrency"]["value"] == 1.5
    assert plan["handle_seconds"]["value"] == 45.0
    hour = plan["hours"][10]
    assert hour["agents"] == agents_needed(2000 / 3600, 30.0, 300, 0.7)


def test_a_log_plan_sized_for_the_contact_centres_service_level(tmp_path: Path) -> None:
    from stream.core.staffing import pickup_agents_needed

    log = _log(tmp_path / "log.jsonl")
    result = _plan("--input", log, "--orders", "1000", "--avg-order-value", "100",
                   "--chat-share", "1", "--conversion-rate", "0.5", "--return-rate", "0.1",
                   "--max-per-agent", "100", "--answer-within", "20", "--target", "90%",
                   "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["kpi"] == {"name": "pickup", "window_seconds": 20.0, "target": 0.9,
                           "answered": "pickup"}
    assert plan["hours"][20]["agents"] == pickup_agents_needed(1500 / 3600, 30.0, 20, 0.9)
    assert plan["hours"][20]["service_level"] >= 0.9


def test_a_given_load_needs_its_handling_and_well_formed_hours() -> None:
    from stream.staffing_plan import SizingError

    for args, message in (
            (["--contacts", "100"], "--contacts needs --handle-seconds"),
            (["--contacts", "8-25=100", "--handle-seconds", "60"], "hours run 0-24"),
            (["--contacts", "8-12=100,x", "--handle-seconds", "60"], "write HOURS=N"),
            (["--contacts", "nan", "--handle-seconds", "60"], "must be a number >= 0"),
            (["--contacts", "8-12=100", "--hours", "8-22", "--handle-seconds", "60"],
             "--hours goes with a single --contacts number")):
        result = _plan(*args)
        assert isinstance(result.exception, SizingError), (args, result.output)
        assert message in str(result.exception)
    assert "--input" in _refused(_plan("--contacts", "100", "--handle-seconds", "60",
                                       "--input", "x.jsonl"))
    # a single number over some hours only
    result = _plan("--contacts", "100", "--hours", "9-21", "--interval-minutes", "30",
                   "--handle-seconds", "180", "--answer-within", "20", "--json")
    hours = [h["hour"] for h in json.loads(result.stdout)["hours"]]
    assert hours == list(range(9, 21))
    bad = _plan("--contacts", "100", "--handle-seconds", "60", "--shrinkage", "1")
    assert bad.exit_code == 2 and "--shrinkage" in bad.output


def test_bad_lines_of_the_history_are_summed_up_by_reason(tmp_path: Path) -> None:
    log = Path(_log(tmp_path / "log.jsonl"))
    with log.open("a", encoding="utf-8") as f:
        f.write("not json\n" * 12 + '{"event_id": "x"}\n')
    result = _plan("--input", str(log), "--orders", "1000", "--avg-order-value", "100",
                   "--chat-share", "1", "--conversion-rate", "0.5", "--return-rate", "0.1",
                   "--max-per-agent", "100")
    assert result.exit_code == 0, result.output
    assert "plan: invalid lines by reason" in result.stderr
    assert "12 x " in result.stderr and "also at" in result.stderr
    assert "chatwatch backfill --rejects FILE" in result.stderr
    assert result.stderr.count("not JSON") == 1  # one line for the reason, not one per line
