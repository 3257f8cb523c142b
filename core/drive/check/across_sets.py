"""What several sets of one scan hold in common: the same photo in alice's set and in bob's.

The store keeps such content once, which is worth knowing (it is what
deduplication saves). When the two copies carry different labels, one of the
labellers is probably wrong, and a model trained on both sets learns both
answers: that is a warning.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from datayard.core.drive.check.findings import Finding, FindingKind
from datayard.core.drive.inventory import DatasetSet, SetItem


def across_sets(
    sets: Sequence[DatasetSet], hashes: Mapping[str, str], label_hashes: Mapping[str, str]
) -> list[Finding]:
    """Per pair of sets sharing images: a note with the count, and a warning for the
    shared images whose labels differ.

    ``hashes`` holds the sha256 of the images, ``label_hashes`` that of the label
    files; a label file without one is not compared.
    """
    holders: defaultdict[str, dict[str, SetItem]] = defaultdict(dict)
    for dataset in sets:
        for item in dataset.items:
            digest = hashes.get(item.image)
            if digest is not None:
                holders[digest].setdefault(dataset.root or ".", item)
    shared: defaultdict[tuple[str, str], list[tuple[SetItem, SetItem]]] = defaultdict(list)
    for by_set in holders.values():
        places = sorted(by_set)
        for index, one in enumerate(places):
            for other in places[index + 1 :]:
                shared[one, other].append((by_set[one], by_set[other]))
    findings = []
    for (one, other), items in sorted(shared.items()):
        items.sort(key=lambda pair: pair[0].image)
        images = "1 image is" if len(items) == 1 else f"{len(items)} images are"
        findings.append(
            Finding(
                FindingKind.SHARED_WITH_SET,
                one,
                f"{images} also in {other} (stored once)",
                pairs=tuple((mine, theirs) for mine, theirs in _images(items)),
            )
        )
        differ = [pair for pair in items if _labels_differ(*pair, label_hashes)]
        if differ:
            some = "1 of them is" if len(differ) == 1 else f"{len(differ)} of them are"
            findings.append(
                Finding(
                    FindingKind.LABELS_DIFFER_ACROSS_SETS,
                    one,
                    f"{some} labelled differently in {other}",
                    pairs=tuple(_images(differ)),
                )
            )
    return findings


def _images(items: list[tuple[SetItem, SetItem]]) -> list[tuple[str, str]]:
    return [(mine.image, theirs.image) for mine, theirs in items]


def _labels_differ(mine: SetItem, theirs: SetItem, label_hashes: Mapping[str, str]) -> bool:
    if (mine.label is None) != (theirs.label is None):
        return True  # labelled in one set, a background image in the other
    if mine.label is None or theirs.label is None:
        return False
    known = label_hashes.get(mine.label), label_hashes.get(theirs.label)
    return None not in known and known[0] != known[1]
