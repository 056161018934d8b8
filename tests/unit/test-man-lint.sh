#!/bin/sh
# test-man-lint.sh — the manual pages format without a single warning from
# mandoc (-Tlint -W warning) and groff (-man -ww -z), and every recipe of
# raftfs(7) extracts cleanly (man/extract-recipe.sh) and parses as POSIX sh,
# and cross references name headings that exist.
# Exit 77 (skip) when mandoc or groff is missing.
set -u
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
pages="raftfsd.8 raftfsctl.8 raftfs.conf.5 raftfs.7"

for tool in mandoc groff; do
        if ! command -v "$tool" >/dev/null 2>&1; then
                echo "SKIP: $tool is not installed"
                exit 77
        fi
done

fail=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for p in $pages; do
        f=$srcdir/man/$p
        if [ ! -f "$f" ]; then
                echo "FAIL: $f is missing"
                fail=1
                continue
        fi
        # mandoc's exit status is non-zero at warning level and above; print
        # whatever it says either way.
        if ! mandoc -Tlint -W warning "$f" >"$out" 2>&1 || [ -s "$out" ]; then
                echo "FAIL: mandoc -Tlint -W warning $p:"
                cat "$out"
                fail=1
        fi
        if ! groff -man -ww -z "$f" >"$out" 2>&1 || [ -s "$out" ]; then
                echo "FAIL: groff -man -ww -z $p:"
                cat "$out"
                fail=1
        fi
        # The page's own name and section agree with .TH.
        name=${p%.*}
        sect=${p##*.}
        th=$(sed -n 's/^\.TH \([^ ]*\) \([^ ]*\) .*/\1 \2/p' "$f")
        want="$(echo "$name" | tr '[:lower:]' '[:upper:]') $sect"
        if [ "$th" != "$want" ]; then
                echo "FAIL: $p: .TH says '$th', expected '$want'"
                fail=1
        fi
done

# Recipes: each must extract and parse; at least the five of issue 9.
page=$srcdir/man/raftfs.7
n=0
for r in $("$srcdir/man/extract-recipe.sh" -l "$page"); do
        n=$((n + 1))
        if ! "$srcdir/man/extract-recipe.sh" "$page" "$r" >"$out"; then
                echo "FAIL: recipe $r does not extract"
                fail=1
        elif ! sh -n "$out"; then
                echo "FAIL: recipe $r is not valid sh"
                fail=1
        fi
done
for r in leader-election cluster-cron edit-config membership-register fencing-store; do
        if ! "$srcdir/man/extract-recipe.sh" -l "$page" | grep -qx "$r"; then
                echo "FAIL: raftfs.7 lacks recipe $r"
                fail=1
        fi
done

# Cross references: ".B HEADING" / "in" / ".BR page (N)" must name a
# section (.SH) or subsection (.SS) that exists in that page, and the
# recipes a page refers to ("see the recipe X") must exist in raftfs(7).
if ! perl -e '
        my $dir = shift; my $bad = 0;
        my %heads;
        for my $p (@ARGV) {
                open(my $h, "<", "$dir/$p") or die; local $/; my $s = <$h>;
                (my $name = $p) =~ s/\.(\d)$/($1)/;
                while ($s =~ /^\.S[HS] (.*)$/mg) {
                        my $t = $1; $t =~ s/\\f[BIRP]//g; $t =~ s/^"|"$//g; $t =~ s/\\-/-/g;
                        $heads{$name}{$t} = 1;
                        $heads{$name}{$1} = 1 if $t =~ /^(\S.*?) \[/;   # "status [--json]" -> "status"
                }
        }
        for my $p (@ARGV) {
                open(my $h, "<", "$dir/$p") or die; my @l = <$h>; chomp @l;
                for my $i (0 .. $#l - 2) {
                        if ($l[$i] =~ /\brecipe$/ && $l[$i + 1] =~ /^\.BR? "([^"]+)"/) {
                                print "FAIL: $p:", $i + 2, ": no recipe section \"$1\" in raftfs(7)\n"
                                        and $bad = 1 unless $heads{"raftfs(7)"}{$1};
                                next;
                        }
                        next unless $l[$i + 1] eq "in" && $l[$i] =~ /^\.BR? "?([^"]+?)"?$/;
                        my $what = $1;
                        next unless $l[$i + 2] =~ /^\.BR (raftfs\S*) \((\d)\)/;
                        my $page = "$1($2)";
                        next unless exists $heads{$page};
                        next if $heads{$page}{$what};
                        next unless $what =~ /^[A-Z]/;      # a key or value, not a heading
                        print "FAIL: $p:", $i + 1, ": \"$what\" is not a heading of $page\n"; $bad = 1;
                }
        }
        exit $bad;
' "$srcdir/man" $pages; then
        fail=1
fi

[ $fail -eq 0 ] && echo "PASS: $pages lint-clean; $n recipes extract and parse"
exit $fail
