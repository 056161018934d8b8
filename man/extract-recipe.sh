#!/bin/sh
# extract-recipe.sh PAGE NAME  — print recipe NAME of the man page source
#                                PAGE as plain shell text;
# extract-recipe.sh -l PAGE    — list the recipe names of PAGE.
#
# A recipe is the text of the .EX/.EE blocks between the comment lines
#     .\" recipe: NAME
#     .\" end recipe
# The roff escapes a recipe may use are undone: \e (backslash), \- (minus),
# \& (nothing), \(aq \(dq \(ga \(ti \(ha (' " ` ~ ^) and the font changes
# \fB \fI \fR \fP. Anything else that starts with a backslash is an error,
# so a recipe cannot silently come out different from what the page shows.
# Exit status: 0, 1 when the recipe is missing or malformed, 2 usage.
set -eu

usage() { echo "usage: $0 PAGE NAME | $0 -l PAGE" >&2; exit 2; }

if [ "${1:-}" = -l ]; then
        [ $# -eq 2 ] || usage
        exec sed -n 's/^\.\\" recipe: *\([^ ]*\) *$/\1/p' "$2"
fi
[ $# -eq 2 ] || usage

exec perl -e '
use strict; use warnings;
my ($page, $name) = @ARGV;
open(my $fh, "<", $page) or die "$page: $!\n";
my %map = ("e" => "\\", "-" => "-", "&" => "",
           "(aq" => "\x27", "(dq" => "\"", "(ga" => "`", "(ti" => "~", "(ha" => "^",
           "fB" => "", "fI" => "", "fR" => "", "fP" => "");
my ($in, $ex, $found, $out) = (0, 0, 0, "");
while (my $line = <$fh>) {
        chomp $line;
        if ($line =~ /^\.\\" recipe: *(\S+) *$/) {
                die "$page:$.: recipe $1 inside recipe\n" if $in;
                if ($1 eq $name) { $in = 1; $found++; }
                next;
        }
        if ($line =~ /^\.\\" end recipe/) {
                die "$page:$.: .EX not closed in recipe $name\n" if $in && $ex;
                $in = 0; next;
        }
        next unless $in;
        if ($line =~ /^\.EX\s*$/) { $ex = 1; next; }
        if ($line =~ /^\.EE\s*$/) { $ex = 0; next; }
        next unless $ex;
        die "$page:$.: roff request inside recipe $name: $line\n" if $line =~ /^[.\x27]/;
        $line =~ s{\\(e|-|&|\(aq|\(dq|\(ga|\(ti|\(ha|f[BIRP]|.)}{
                exists $map{$1} ? $map{$1} : die "$page:$.: unsupported escape \\$1 in recipe $name\n"
        }ge;
        $out .= "$line\n";
}
die "$page: no recipe named $name\n" unless $found;
die "$page: recipe $name appears $found times\n" if $found > 1;
die "$page: recipe $name has no .EX block\n" if $out eq "";
print $out;
' "$1" "$2"
