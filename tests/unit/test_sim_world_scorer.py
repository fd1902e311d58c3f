"""Scorer: exact numbers on a hand-made feed, both policies, the ideal bound, empty trials."""

from __future__ import annotations

import json
import math

import pytest

from sorter.sim_world.scorer import Bin, Outcome, concentrate_bin, score

# Four particles: ore A to REJECT, ore B to ACCEPT, waste C to ACCEPT, waste D to REJECT.
FEED = [
    Outcome(1, True, 1.0, 0.10, 0.289, Bin.REJECT, 1.0),
    Outcome(2, True, 0.5, 0.20, 0.289, Bin.ACCEPT, 1.1),
    Outcome(3, False, 2.0, 0.001, 0.006, Bin.ACCEPT, 1.2),
    Outcome(4, False, 0.5, 0.002, 0.003, Bin.REJECT, 1.3),
]
# pay-element masses: A 0.1, B 0.1, C 0.002, D 0.001 -> feed 0.203 kg in 4.0 kg


def test_eject_ore():
    s = score(FEED, "ore")
    assert s.concentrate_bin == "reject"
    assert s.particles == 4
    assert s.feed_mass_kg == pytest.approx(4.0)
    assert s.feed_element_mass_kg == pytest.approx(0.203)
    assert s.feed_grade == pytest.approx(0.203 / 4.0)
    assert s.concentrate_mass_kg == pytest.approx(1.5)          # A + D
    assert s.concentrate_grade == pytest.approx(0.101 / 1.5)
    assert s.tailings_mass_kg == pytest.approx(2.5)             # B + C
    assert s.tailings_grade == pytest.approx(0.102 / 2.5)
    assert s.recovery == pytest.approx(0.101 / 0.203)
    assert s.rejected_mass_kg == pytest.approx(1.5)
    assert s.waste_rejection == pytest.approx(1.5 / 4.0)
    assert s.misplaced_ore_kg == pytest.approx(0.5)             # B in the tailings
    assert s.misplaced_waste_kg == pytest.approx(0.5)           # D in the concentrate
    assert s.misplaced_mass_kg == pytest.approx(1.0)
    assert s.misplaced_mass_fraction == pytest.approx(0.25)
    assert s.counts == {"accept_ore": 1, "accept_waste": 1, "reject_ore": 1, "reject_waste": 1}
    ideal = s.ideal                                             # A + B to the concentrate
    assert ideal.concentrate_mass_kg == pytest.approx(1.5)
    assert ideal.concentrate_grade == pytest.approx(0.2 / 1.5)
    assert ideal.tailings_grade == pytest.approx(0.003 / 2.5)
    assert ideal.recovery == pytest.approx(0.2 / 0.203)
    assert ideal.waste_rejection == pytest.approx(1.5 / 4.0)    # the ore is what is blown


def test_eject_waste():
    s = score(FEED, "waste")
    assert s.concentrate_bin == "accept"
    assert s.concentrate_mass_kg == pytest.approx(2.5)          # B + C
    assert s.concentrate_grade == pytest.approx(0.102 / 2.5)
    assert s.recovery == pytest.approx(0.102 / 0.203)
    assert s.rejected_mass_kg == pytest.approx(1.5)             # REJECT bin: A + D
    assert s.waste_rejection == pytest.approx(1.5 / 4.0)
    assert s.misplaced_ore_kg == pytest.approx(1.0)             # A blown with the waste
    assert s.misplaced_waste_kg == pytest.approx(2.0)           # C left with the ore
    assert s.misplaced_mass_fraction == pytest.approx(0.75)
    assert s.ideal.waste_rejection == pytest.approx(2.5 / 4.0)  # all waste blown
    assert s.ideal.concentrate_grade == pytest.approx(0.2 / 1.5)


def test_perfect_sort_meets_the_bound():
    perfect = [Outcome(o.truth_id, o.is_ore, o.mass_kg, o.grade, o.mineral_mass_kg,
                       Bin.REJECT if o.is_ore else Bin.ACCEPT, o.scan_time_s) for o in FEED]
    s = score(perfect, "ore")
    assert s.concentrate_grade == pytest.approx(s.ideal.concentrate_grade)
    assert s.recovery == pytest.approx(s.ideal.recovery)
    assert s.misplaced_mass_kg == 0.0


def test_empty_trial_is_json_safe():
    s = score([], "ore")
    assert s.feed_mass_kg == 0.0 and math.isnan(s.concentrate_grade)
    d = s.as_dict()
    assert d["concentrate_grade"] is None and d["ideal"]["recovery"] is None
    json.dumps(d, allow_nan=False)
    assert json.loads(json.dumps(score(FEED, "ore").as_dict()))["counts"]["reject_ore"] == 1


def test_policy_is_checked():
    assert concentrate_bin("ore") == Bin.REJECT and concentrate_bin("waste") == Bin.ACCEPT
    with pytest.raises(ValueError):
        score(FEED, "gold")
