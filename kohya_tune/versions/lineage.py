"""sd-scripts version labels: what a label names and which other labels its code contains.

A version is a release tag (``v0.9.1``) or one of the commits kohya_ss GUI releases ship between
tags (``2e0fcc50``, data: ``sd_scripts_lineage.json``). Tags form one line; a commit contains the
tag it was made after and the commits listed as its ancestors, and is contained in the first tag
that has it. Version-dependent tables say ``since X``: an entry applies to a version whose code
contains X (:func:`applies`), and the newest applicable entry is the one whose code contains all
the others (:func:`newest`), so a commit on a side branch never borrows a neighbour tag's entry.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from kohya_tune.versions.datafiles import load_data

NEWEST_WORDS = ("master", "main", "head", "latest", "newest")


class UnknownVersion(ValueError):
    pass


@dataclass(frozen=True)
class Version:
    label: str                 # "v0.9.1" or a short commit "2e0fcc50"
    kind: str                  # "tag" | "commit"
    commit: str | None = None  # the full hash when known
    note: str | None = None    # how the input was read (a tag's commit, an unverified commit)

    @property
    def is_commit(self) -> bool:
        return self.kind == "commit"


def _table() -> dict:
    return load_data("sd_scripts_lineage.json")


def tag_key(tag: str) -> tuple:
    return tuple(int(n) for n in re.findall(r"\d+", tag))


@lru_cache(maxsize=1)
def tags() -> tuple:
    return tuple(sorted(_table()["tags"], key=tag_key))


def commits() -> dict:
    return _table()["commits"]


def commit_info(label: str) -> dict:
    return commits().get(label, {})


def known_labels() -> list[str]:
    """The labels --sd-scripts accepts, for messages: tags from the oldest profile on (and those a
    GUI release is named after), then the commits."""
    return list(tags()) + list(commits())


def resolve(text: str, first_profile_tag: str, default: str) -> Version:
    """The version a --sd-scripts value (or a GUI release's sd-scripts) names. A tag (with or
    without 'v'), a commit of the table (7 to 40 hex digits, any case, a prefix of the full
    hash; a tag's own commit gives the tag), a version name a commit is known by (v0.11.1), or
    master/main/latest for the newest profile. Anything else is UnknownVersion, naming what is
    known: never the nearest neighbour in silence."""
    raw = str(text).strip()
    low = raw.lower()
    if low in NEWEST_WORDS:
        return Version(default, "tag", _table()["tags"][default]["commit"])
    named = {info.get("named"): label for label, info in commits().items() if info.get("named")}
    tag_text = "v" + low.lstrip("v") if re.fullmatch(r"v?\d+(\.\d+){1,2}", low) else None
    if tag_text is not None and tag_text.count(".") == 1 and tag_text + ".0" in _table()["tags"]:
        tag_text += ".0"  # "v0.9" is the v0.9.0 tag
    if tag_text in named:
        label = named[tag_text]
        info = commits()[label]
        return Version(label, "commit", info["commit"], _commit_note(label, info))
    if tag_text is not None:
        table_tags = _table()["tags"]
        if tag_text in table_tags:
            if tag_key(tag_text) < tag_key(first_profile_tag) and tag_text not in gui_named_tags():
                raise UnknownVersion(
                    f"sd-scripts {tag_text} is older than the oldest profile ({first_profile_tag}); "
                    f"known: {_known_text(first_profile_tag)}")
            return Version(tag_text, "tag", table_tags[tag_text]["commit"])
        raise UnknownVersion(f"unknown sd-scripts version {raw!r}: no sd-scripts release has that "
                             f"tag; known: {_known_text(first_profile_tag)}")
    if re.fullmatch(r"[0-9a-f]{7,40}", low):
        hits = [(label, info["commit"]) for label, info in commits().items()
                if info["commit"].startswith(low)]
        hits += [(tag, info["commit"]) for tag, info in _table()["tags"].items()
                 if info["commit"].startswith(low)]
        if len(hits) > 1:
            raise UnknownVersion(f"sd-scripts commit {raw!r} is ambiguous: it starts "
                                 f"{', '.join(h[1][:12] for h in hits)}; give more digits")
        if hits:
            label, full = hits[0]
            if label in commits():
                return Version(label, "commit", full, _commit_note(label, commits()[label]))
            if tag_key(label) < tag_key(first_profile_tag) and label not in gui_named_tags():
                raise UnknownVersion(f"sd-scripts commit {raw!r} is the {label} tag, older than the "
                                     f"oldest profile ({first_profile_tag})")
            return Version(label, "tag", full, f"commit {full[:10]} is the {label} tag")
        raise UnknownVersion(f"unknown sd-scripts commit {raw!r}: kohya-tune knows "
                             f"{_known_text(first_profile_tag)} (no other commit has a profile)")
    raise UnknownVersion(f"unknown sd-scripts version {raw!r}: give a tag such as v0.9.1 or one "
                         f"of the commits GUI releases ship; known: {_known_text(first_profile_tag)}")


@lru_cache(maxsize=1)
def gui_named_tags() -> frozenset:
    """The tags kohya-tune names as the sd-scripts of a GUI release (gui_releases.json: the
    nearest tag at or below its bundled copy or submodule commit): --sd-scripts accepts what the
    output says, also below the oldest profile (v0.5.3-v0.6.4, with that profile and a note)."""
    from kohya_tune.versions import gui_releases

    return frozenset(tag for tag in (gui_releases.sd_scripts_of(t).get("tag")
                                     for t in gui_releases.release_tags()) if tag)


def _known_text(first_profile_tag: str) -> str:
    """What --sd-scripts accepts, in one line."""
    older = [t for t in tags() if t in gui_named_tags() and tag_key(t) < tag_key(first_profile_tag)]
    shown = [f"{label} ({info['named']}, unverified)" if info.get("named") else label
             for label, info in commits().items()]
    text = f"tags {first_profile_tag} to {tags()[-1]}"
    if older:
        text += f" ({older[0]} to {older[-1]} with {first_profile_tag}'s profile)"
    return text + f"; commits GUI releases ship: {', '.join(shown)}"


def _commit_note(label: str, info: dict) -> str | None:
    if info.get("verified", True):
        return None
    return f"sd-scripts {label}: {info.get('note', 'unverified')}"


# --------------------------------------------------------------------------------------------
# which code contains which

@lru_cache(maxsize=None)
def contains(label: str) -> frozenset:
    """Every label whose code `label`'s code contains (itself included)."""
    table = _table()
    if label in commits():
        info = commits()[label]
        if info.get("behaves_as"):
            # its code is the tag's for everything kohya-tune models (checked function by
            # function): every table entry of that tag applies
            return frozenset(contains(info["behaves_as"]) | {label})
        out = {label}
        after = info.get("after")
        if after:
            out |= contains(after)
        for other in info.get("contains", []):
            out |= contains(other)
        return frozenset(out)
    if label not in table["tags"]:
        raise UnknownVersion(f"not an sd-scripts version label: {label!r}")
    key = tag_key(label)
    out = {t for t in tags() if tag_key(t) <= key}
    for name, info in commits().items():
        first = info.get("first_tag")
        if first and tag_key(first) <= key:
            out.add(name)
    return frozenset(out)


def applies(since, label: str) -> bool:
    """Whether a table entry 'since X' (X a label, or a list of labels: the change came to the
    versions containing any of them) applies to `label`."""
    if since is None:
        return True
    names = since if isinstance(since, (list, tuple)) else [since]
    have = contains(label)
    return any(name in have for name in names)


def newest(label: str, candidates) -> str | None:
    """The candidate (a label, or a list of labels for one entry) that applies to `label` and
    whose code contains every other applicable candidate; None when none applies. Two applicable
    candidates neither of which contains the other are a data error (ValueError)."""
    usable = [c for c in candidates if applies(c, label)]
    if not usable:
        return None
    best = [c for c in usable if all(_covers(c, other, label) for other in usable)]
    if len(best) != 1 and len({_key(c) for c in best}) != 1:
        raise ValueError(f"sd-scripts {label}: entries {usable} have no newest one")
    return best[0]


def _key(candidate) -> tuple:
    return tuple(candidate) if isinstance(candidate, (list, tuple)) else (candidate,)


def _covers(a, b, label: str) -> bool:
    """Whether entry `a` is at least as new as entry `b` for `label`: the part of `a` that
    `label` contains contains the part of `b` that it contains."""
    mine = contains(label)
    a_names = [n for n in _key(a) if n in mine]
    b_names = [n for n in _key(b) if n in mine]
    return all(any(bn in contains(an) for an in a_names) for bn in b_names)


def title(version: Version) -> str:
    """How output names a version: 'v0.9.1', or '2e0fcc50 (sd3 branch, between v0.9.1 and
    v0.10.0)'."""
    if not version.is_commit:
        return version.label
    info = commit_info(version.label)
    if info.get("named"):
        return f"{info['named']} ({version.label}, unverified)"
    where = f"between {info['after']} and {info['first_tag']}" if info.get("first_tag") \
        else f"after {info.get('after')}"
    if info.get("behaves_as"):
        where += f", as {info['behaves_as']}"
    branch = f"{info['branch']} branch, " if info.get("branch") else ""
    return f"{version.label} ({branch}{where})"
