"""An archive rule as a person writes it, checked one way for each way it is written.

``datayard archive add``/``edit`` and the app's rule dialog (Add rule…, Edit…) take the
rule's fields as text; all check them here, so a value one refuses the others refuse
with the same words. The CLI says the first refusal and exits; the dialog shows every
field's at once, under the field, while it is being written.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from datayard.core.archive.rules import (
    DEFAULT_TEMPLATE,
    Per,
    Rule,
    check_depth,
    check_name,
    check_per,
    check_root,
    check_schedule,
    check_template,
    check_unused,
)
from datayard.core.errors import DatayardError
from datayard.core.settings import Settings

FIELDS = ("name", "root", "per", "depth", "template", "profile", "schedule")
"""The fields :meth:`RuleEntry.problems` may name, in the order they are written."""


@dataclass(frozen=True)
class RuleEntry:
    """The fields of a rule to add or to write over one, as written, not yet checked."""

    name: str
    root: str
    per: str = Per.PERSON.value
    depth: int = 1
    template: str = DEFAULT_TEMPLATE
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    profile: str = ""
    """Empty: the settings' default profile at each pass."""
    schedule: str = "daily"

    @classmethod
    def of_rule(cls, rule: Rule) -> RuleEntry:
        """The fields of ``rule`` as they would be written, to edit them."""
        return cls(
            name=rule.name,
            root=rule.root,
            per=rule.per.value,
            depth=rule.depth,
            template=rule.template,
            include=rule.include,
            exclude=rule.exclude,
            profile=rule.profile,
            schedule=rule.schedule,
        )

    def problems(self, settings: Settings, taken: Collection[str] = ()) -> dict[str, str]:
        """Each field's refusal by field (see :data:`FIELDS`); empty when :meth:`rule`
        would accept it. ``taken``: the names of the other rules (an edited rule's own
        name is not taken from it)."""
        checks: dict[str, Callable[[], object]] = {
            "name": lambda: self._check_name(taken),
            "root": lambda: check_root(self.root),
            "per": lambda: check_per(self.per),
            "depth": lambda: check_depth(self.depth, check_per(self.per)),
            "template": lambda: check_template(self.template),
            "profile": lambda: self._check_profile(settings),
            "schedule": lambda: check_schedule(self.schedule),
        }
        found: dict[str, str] = {}
        for field, check in checks.items():
            try:
                check()
            except DatayardError as error:
                if field != "depth" or "per" not in found:  # one refusal of a bad --per
                    found[field] = str(error)
        return found

    def rule(self, settings: Settings) -> Rule:
        """The rule, its root made absolute; the first refusal's :class:`DatayardError`
        otherwise (the one line ``archive add`` says)."""
        per = check_per(self.per)
        self._check_profile(settings)
        return Rule(
            name=self.name,
            root=check_root(self.root),
            per=per,
            depth=self.depth,
            template=self.template,
            include=self.include,
            exclude=self.exclude,
            profile=self.profile,
            schedule=self.schedule,
        ).validated()

    def _check_name(self, taken: Collection[str]) -> None:
        check_name(self.name)
        check_unused(self.name, taken)

    def _check_profile(self, settings: Settings) -> None:
        if self.profile:
            settings.profile(self.profile)
