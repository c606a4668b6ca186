"""Pure: inpatient censoring of PDC periods (PQA via the CMS Star Ratings technical notes).

CMS adjusts PDC for inpatient stays "by censoring IP stays during the measurement period … If the
patient also has measured drug coverage during the IP stay, the number of days a drug was
supplied during that stay will be shifted to the post IP time period. This shift also causes a
chain of shifting for subsequent medication fills" (Medicare 2014 Part C&D Star Ratings technical
notes, quoted in SAS paper 3560-2015; clinical-anchors.md 1.1). The hospital supplies the drug
during a stay, so those days are neither covered nor uncovered.

fhirbridge does this by taking the stay days out of the calendar: days are numbered by
*position*, counting only days outside a stay. A fill lasting N days covers N consecutive
positions, so supply on hand at admission resumes the day after discharge and every later fill
of the same ingredient is carried after it, exactly the chain the technical notes describe.
Stay days are the admission day through the discharge day, both counted (the patient is in
hospital on both calendar days); a stay still under way is censored through as_of.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from fhirbridge.records import InpatientStay


@dataclass(frozen=True, slots=True)
class Censor:
    """Calendar days (ordinals) ↔ positions with the inpatient days taken out."""

    starts: tuple[int, ...]  # first censored day of each merged stay, ascending
    ends: tuple[int, ...]  # last censored day of each merged stay
    before: tuple[int, ...]  # censored days before each stay (cumulative)

    @classmethod
    def of(cls, stays: Sequence[InpatientStay], as_of: date) -> Censor:
        """The censor for the stays that began on or before as_of (open stays end at as_of)."""
        if not stays:  # most patients: the one censor that takes nothing out
            return _UNCENSORED
        last = as_of.toordinal()
        spans = sorted(
            (s.start.toordinal(), min(last, (s.end or as_of).toordinal()))
            for s in stays
            if s.start <= as_of
        )
        runs: list[tuple[int, int]] = []
        for start, end in spans:
            if runs and start <= runs[-1][1] + 1:
                runs[-1] = (runs[-1][0], max(runs[-1][1], end))
            else:
                runs.append((start, end))
        before, total = [], 0
        for start, end in runs:
            before.append(total)
            total += end - start + 1
        return cls(tuple(s for s, _ in runs), tuple(e for _, e in runs), tuple(before))

    def __bool__(self) -> bool:
        return bool(self.starts)

    def position(self, day: int) -> int:
        """Where supply handed over on `day` starts: a day in a stay moves to after discharge."""
        i = bisect_right(self.starts, day) - 1
        if i < 0:
            return day
        if day <= self.ends[i]:
            return self.starts[i] - self.before[i]
        return day - self.before[i] - (self.ends[i] - self.starts[i] + 1)

    def last(self, day: int) -> int:
        """The position of the last uncensored day on or before `day` (a period's end)."""
        i = bisect_right(self.starts, day) - 1
        if i >= 0 and day <= self.ends[i]:
            return self.starts[i] - self.before[i] - 1
        return self.position(day)

    def censored(self, first: int, last: int) -> int:
        """Stay days inside the calendar days [first, last]."""
        return sum(
            max(0, min(end, last) - max(start, first) + 1)
            for start, end in zip(self.starts, self.ends, strict=True)
        )

    def calendar(self, first: int, last: int) -> list[tuple[int, int]]:
        """Positions [first, last] back to calendar runs (ordinals), split around the stays."""
        runs: list[tuple[int, int]] = []
        shift = 0  # censored days before the current position
        pos = first
        for start, end, before in zip(self.starts, self.ends, self.before, strict=True):
            stay_at = start - before  # the position of the first day after this stay
            length = end - start + 1
            if stay_at <= pos:
                shift = before + length
                continue
            if stay_at > last:
                break
            runs.append((pos + shift, stay_at - 1 + shift))
            pos, shift = stay_at, before + length
        runs.append((pos + shift, last + shift))
        return runs


_UNCENSORED = Censor((), (), ())
