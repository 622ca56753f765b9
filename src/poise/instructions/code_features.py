"""Weighted syntax features for programming-language identification.

Each language has a list of ``(pattern, weight)``: a pattern that matches the code adds its
weight to that language's score (once per pattern; a pattern matching several times adds at most
twice its weight). Strong, nearly unique markers (``fmt.Println``, ``<?php``, ``let mut``) weigh
4–8; shared syntax (``=>``, ``->``, ``;``) weighs 0.5–1.5 and only breaks ties. Patterns are
case-sensitive, so English prose ("Select the import...") rarely scores.
"""

from __future__ import annotations

import re

Feature = tuple[re.Pattern[str], float]

_M = re.M


def _f(pattern: str, weight: float, flags: int = _M) -> Feature:
    return (re.compile(pattern, flags), weight)


FEATURES: dict[str, list[Feature]] = {
    "python": [
        _f(r"^\s*def \w+\(.*\)\s*(->\s*[\w\[\], .|]+)?:\s*$", 5),
        _f(r"^\s*(el)?if .+:\s*$|^\s*else:\s*$|^\s*for \w+(, \w+)* in .+:\s*$|^\s*while .+:\s*$", 3),
        _f(r"^\s*(from [\w.]+ )?import [\w.]+( as \w+)?(, \w+)*\s*$", 3),
        _f(r"\bself\.\w+", 2),
        _f(r"\b(None|True|False)\b", 1),
        _f(r"\belif\b|\bexcept\b.*:|__init__|__name__|\bnonlocal\b", 4),
        _f(r"\b(print|len|range|isinstance|enumerate)\(", 1.5),
        _f(r"\bf\"[^\"]*\{|\bf'[^']*\{", 2),
        _f(r"^\s*with .+ as \w+:\s*$", 4),
        _f(r"\[[^\]]+ for \w+ in [^\]]+\]", 4),
        _f(r"\b(pd|np|df|plt)\.\w+", 2),
        _f(r"^\s*return\b[^;{}]*$", 0.5),
        _f(r"^\s*@\w+(\.\w+)*(\(.*\))?\s*$", 1),
    ],
    "javascript": [
        _f(r"\b(const|let) \w+ = ", 1.5),
        _f(r"\b(const|let) \[\w+, \w+\] = |\b(const|let) \{[\w, ]+\} = ", 2),
        _f(r"\bfunction\s*\w*\s*\([^$)]*\)\s*\{", 2),
        _f(r"=>\s*[{(\w]", 1.5),
        _f(r"\bconsole\.(log|error|warn)\(", 4),
        _f(r"\b(document|window)\.\w+|addEventListener\(|getElementById", 4),
        _f(r"\brequire\(['\"]|module\.exports|\bexport default\b", 3),
        _f(r"===|!==", 2),
        _f(r"\.then\(|\bawait fetch\(|\bfetch\(", 2),
        _f(r"\bundefined\b|\bnull\b", 0.5),
        _f(r"\buse(State|Effect|Ref|Memo)\(", 3),
        _f(r"JSON\.(parse|stringify)|\.reduce\(|\.forEach\(|\.map\(\w+ =>|\.map\(\(", 1.5),
        _f(r"`[^`]*\$\{", 1.5),
    ],
    "typescript": [
        _f(r"\b\w+\??: (string|number|boolean|any|void|unknown|never)\b(\[\])?", 3.5),
        _f(r"^\s*(export )?interface \w+(<[^>]+>)?\s*\{", 3),
        _f(r"^\s*(export )?type \w+(<[^>]+>)? = ", 4),
        _f(r"\bas const\b|\breadonly \w+|React\.FC\b|\bkeyof\b", 3),
        _f(r"\): (string|number|boolean|void|Promise<)", 3),
        _f(r"\b(const|let) \w+: \w+", 2),
    ],
    "java": [
        _f(r"public static void main\s*\(", 6),
        _f(r"System\.(out|err)\.print", 6),
        _f(r"^\s*import java\.|^\s*package [\w.]+;", 6),
        _f(r"\bpublic (final )?class \w+", 2),
        _f(r"@Override|@Autowired|@RestController|\bthrows \w+", 3),
        _f(r"\b(ArrayList|HashMap|List|Map|Optional)<[\w<>, ]*>\s+\w+\s*=", 3),
        _f(r"\bnew (ArrayList|HashMap|HashSet|StringBuilder)<?", 3),
        _f(r"\bString\[\] \w+|\bString \w+ =", 2),
        _f(r"\bprivate (final )?\w+(<[\w, ]+>)? \w+;", 1.5),
        _f(r"\.stream\(\)|NullPointerException", 3),
    ],
    "c": [
        _f(r"#include\s*<(stdio|stdlib|string|stdint|unistd|math)\.h>", 6),
        _f(r"\bprintf\(|\bscanf\(|\bfprintf\(", 2),
        _f(r"\b(malloc|calloc|realloc|free)\(|\bstrcpy\(|\bstrlen\(", 3),
        _f(r"\bint main\s*\(", 1.5),
        _f(r"\bchar \*\w+|\bint \*\w+|\*\w+ = ", 2),
        _f(r"\bNULL\b|\bsizeof\(", 1.5),
        _f(r"\bstruct \w+ \*?\w+;|\btypedef struct\b", 2),
    ],
    "cpp": [
        _f(r"#include\s*<(iostream|vector|string|map|algorithm|memory|unordered_map)>", 6),
        _f(r"\bstd::\w+", 5),
        _f(r"\bcout\s*<<|\bcin\s*>>|\bendl\b", 4),
        _f(r"\btemplate\s*<|\bnullptr\b|\bconstexpr\b|using namespace std", 4),
        _f(r"\bauto \w+ =|for \(auto\b|\bauto&", 2),
        _f(r"\b\w+::\w+\(", 1),
    ],
    "csharp": [
        _f(r"^\s*using System(\.[\w.]+)?;", 6),
        _f(r"\bConsole\.(Write|WriteLine|ReadLine)\(", 6),
        _f(r"\{\s*get;\s*(private |init; |set;)?\s*(set;)?\s*\}", 6),
        _f(r"\basync Task\b|\bTask<\w+>|IActionResult|\bIEnumerable<", 5),
        _f(r"\b(FirstOrDefault|Where|Select|ToList|SingleOrDefault)(Async)?\(", 3),
        _f(r"\bvar \w+ = .*;\s*$", 1.5),
        _f(r"\bnamespace [\w.]+\s*[;{]?\s*$|\bforeach \(var\b", 3),
        _f(r"\bpublic (string|int|bool|void|List<\w+>) \w+", 2),
        _f(r"\b_\w+\.\w+", 0.5),
    ],
    "go": [
        _f(r"^package \w+\s*$", 5),
        _f(r"\bfunc (\(\w+ \*?\w+\) )?\w+\([^)]*\)( \(?[\w*\[\], ]+\)?)? \{", 4),
        _f(r":=", 3),
        _f(r"\bfmt\.\w+\(|\berr != nil\b", 5),
        _f(r"^import \($|^import \"\w+\"", 4),
        _f(r"\bgo func\b|\bchan \w+|\bdefer \w+|\bmake\(\[\]|\bmap\[\w+\]\w+", 4),
        _f(r"\[\]\w+\{|\bvar \w+ \[?\]?\w+\s*$", 2),
    ],
    "rust": [
        _f(r"\bfn \w+(<[^>]*>)?\([^)]*\)( -> [^{]+)?\s*\{", 4),
        _f(r"\blet mut \w+", 5),
        _f(r"\b(println|print|format|vec|panic|assert_eq)!\(|\bvec!\[", 5),
        _f(r"^\s*(pub )?(impl|trait|enum|struct|mod|use) [\w:<>]+", 2),
        _f(r"\buse std::|#\[derive\(|\bimpl\b.* for \b", 5),
        _f(r"\.unwrap\(\)|\.expect\(|\bSome\(|\bOk\(|\bErr\(", 3),
        _f(r"&str\b|&mut\b|\bString::|\bVec<|\bOption<|\bResult<|\bi32\b|\bu8\b|\busize\b", 3),
        _f(r"\blet \w+: \w+ = ", 1),
    ],
    "ruby": [
        _f(r"^\s*def \w+[?!]?(\(.*\))?\s*$", 3),
        _f(r"^\s*end\s*$", 3),
        _f(r"\bdo \|\w+(, \w+)*\|", 5),
        _f(r"^\s*puts\b|^\s*require ['\"]|\battr_(accessor|reader|writer)\b", 4),
        _f(r"\.nil\?|\belsif\b|\bhas_many\b|\bbelongs_to\b|< ApplicationRecord|\bvalidates :", 5),
        _f(r"#\{\w+", 3),
        _f(r":\w+ =>|\b\w+: :\w+", 1.5),
        _f(r"@\w+\s*=", 1),
    ],
    "php": [
        _f(r"<\?php", 8),
        _f(r"\$this->|\$\w+->\w+", 5),
        _f(r"\$\w+\s*=", 2),
        _f(r"\bfunction \w*\s*\(\$|\bfn\(\$", 5),
        _f(r"\b(echo|array_map|array_filter|count|isset|explode|implode)\b\s*\(?\$?", 1),
        _f(r"\w+::(find|where|create)\(|=> \$\w+|\['\w+' =>", 3),
        _f(r"\bnamespace [A-Z]\w*\\|^\s*use [A-Z]\w*\\", 4),
    ],
    "sql": [
        _f(r"\bSELECT\b[\s\S]+?\bFROM\b", 6),
        _f(r"\bselect\b[\w\s,.*()]+\bfrom \w+", 4),
        _f(
            r"\b(INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE TABLE|ALTER TABLE|"
            r"DROP TABLE)\b",
            6,
            re.M | re.I,
        ),
        _f(r"\b(WHERE|GROUP BY|ORDER BY|HAVING|LEFT JOIN|INNER JOIN|JOIN)\b", 2),
        _f(r"\b(VARCHAR|PRIMARY KEY|FOREIGN KEY|NOT NULL)\b", 4, re.M | re.I),
        _f(r"\bCOUNT\(|\bSUM\(|\bAVG\(", 1),
    ],
    "bash": [
        _f(r"^#!/(usr/)?bin/(env )?(ba|z)?sh", 8),
        _f(
            r"^\s*(sudo|apt(-get)?|brew|pip3?|npm|npx|yarn|git|cd|ls|mkdir|rm|cp|mv|chmod|chown|grep|curl"
            r"|wget|export|docker|kubectl|ssh|tar|source|ps|kill)\s+[-\w./~$\"']",
            3,
        ),
        _f(r"^\s*(fi|done|esac)\s*$|;\s*then\s*$|;\s*do\s*$|\bif \[\[? ", 5),
        _f(r"\|\s*(grep|awk|sed|xargs|wc|sort|uniq|head|tail|cut)\b", 4),
        _f(r"\$\{?\w+\}?|\$\(|\$[0-9@#?]", 1),
        _f(r"^\s*echo\s+[\"'$]", 1.5),
        _f(r"&&\s*\w+|\s--?[a-z][\w-]*", 0.5),
    ],
    "html": [
        _f(r"<!DOCTYPE html>|<html\b", 8, re.M | re.I),
        _f(
            r"<(div|span|p|a|ul|ol|li|body|head|title|section|nav|header|footer|form|input|button|table|tr|td"
            r"|h[1-6]|img|label|select|option)\b[^>]*>",
            3,
        ),
        _f(r"</(div|span|p|a|ul|ol|li|body|head|html|section|nav|form|button|table|h[1-6])>", 3),
        _f(r"\b(class|href|src|id)=\"[^\"]*\"", 1.5),
    ],
    "css": [
        _f(r"^[ \t]*[.#]?[a-z][\w .#>+~:-]{0,80}\{[ \t]*$", 1.5),
        _f(
            r"^\s*(color|margin|padding|display|font-size|font-family|background(-color)?|border|width"
            r"|height|position|flex|justify-content|align-items|grid-template-columns)\s*:\s*[^;]+;",
            4,
        ),
        _f(r"@media\b|@keyframes\b|@import url|!important", 5),
        _f(r"\b\d+(px|rem|em|vh|vw)\b", 1.5),
        _f(r":hover\b|::before\b|::after\b", 2),
        _f(r"\{\s*[\w-]+\s*:\s*[^;{}]+;\s*\}", 3),
    ],
    "kotlin": [
        _f(r"\bfun \w+\(", 5),
        _f(r"\bval \w+(: [\w<>?]+)? =", 3),
        _f(r"\bvar \w+: [\w<>?]+", 1.5),
        _f(r"\bdata class\b|\bcompanion object\b|\boverride fun\b|\bsealed class\b|\bsuspend fun\b", 6),
        _f(r"\b(listOf|mutableListOf|mapOf|setOf|arrayOf)\(", 5),
        _f(r"\{ it\.|\bit\.\w+|\bwhen \(\w+\) \{", 3),
        _f(r"\bprintln\(", 1),
    ],
    "swift": [
        _f(r"\bfunc \w+\([^)]*\)( (async )?(throws )?-> [\w<>?\[\]]+)?\s*\{", 3),
        _f(r"^\s*import (UIKit|SwiftUI|Foundation)\b", 7),
        _f(r"\bvar body: some View\b|@State\b|@Published\b|@ObservedObject\b", 7),
        _f(r"\bguard let\b|\bif let \w+ = ", 5),
        _f(r"\\\(\w+\)", 4),
        _f(r"\bstruct \w+: \w+(, \w+)* \{|\blet \w+: \w+ = ", 2),
        _f(r"-> String\b|-> Int\b|-> Bool\b|: String\)|URLSession", 2),
    ],
}
