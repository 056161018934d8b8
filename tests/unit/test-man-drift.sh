#!/bin/sh
# test-man-drift.sh — the manual cannot drift from the programs.
#
#  1. Options: every option `raftfsd --help` / `raftfsctl --help` prints is
#     documented in raftfsd(8) / raftfsctl(8); every option a page defines
#     (its SYNOPSIS and its .TP terms) is in --help, unless the page names it
#     on a `.\" drift-pending:` comment line (documented ahead of the code;
#     reported as PENDING, and as a failure once the code has it, so that the
#     marker is removed).
#  2. Commands: every command of `raftfsctl --help` has a .SS section in
#     raftfsctl(8), and every .SS command there is in --help.
#  3. Keys: the keys `raftfsd --dump-config` prints for a minimal
#     configuration and the keys raftfs.conf(5) documents (.TP/.B under
#     .SS [section]) are the same set; each documented "default X" equals the
#     dumped value (a "default key/N" is computed from the dumped key).
#  4. Ranges: each documented "range A to B" equals the min and max of the
#     key in the table conf_keys[] of daemon/conf.c (when that file is there).
#  5. Examples: every `.\" example: NAME` block of raftfs.conf(5) passes
#     `raftfsd -t`.
#
# Exit 77 (skip) while raftfsd or raftfsctl is not built; 1 on any
# difference, one line each.
set -u
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
raftfsd=$builddir/raftfsd
raftfsctl=$builddir/raftfsctl
man=$srcdir/man

for p in "$raftfsd" "$raftfsctl"; do
        if [ ! -x "$p" ]; then
                echo "SKIP: $p is not built yet"
                exit 77
        fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$raftfsd" --help >"$tmp/raftfsd.help" 2>&1 || true
"$raftfsctl" --help >"$tmp/raftfsctl.help" 2>&1 || true

cat >"$tmp/min.conf" <<CONF
[node]
name = n1
listen = 127.0.0.1:7001
data_dir = $tmp/data
mountpoint = $tmp/mnt
control_socket = $tmp/control.sock
[cluster]
initial_members = n1=127.0.0.1:7001
CONF
if ! "$raftfsd" -c "$tmp/min.conf" --dump-config >"$tmp/dump" 2>"$tmp/dump.err"; then
        echo "FAIL: raftfsd -c min.conf --dump-config failed:"
        cat "$tmp/min.conf" "$tmp/dump.err"
        exit 1
fi

# Config examples of raftfs.conf(5), each checked with raftfsd -t.
examples_ok=0
for name in $(sed -n 's/^\.\\" example: *\([^ ]*\) *$/\1/p' "$man/raftfs.conf.5"); do
        perl -ne '
                BEGIN { $n = shift @ARGV }
                if (/^\.\\" example: *(\S+)/) { $in = ($1 eq $n); next }
                if (/^\.\\" end example/) { $in = 0; next }
                next unless $in;
                if (/^\.EX/) { $ex = 1; next } if (/^\.EE/) { $ex = 0; next }
                next unless $ex;
                s/\\-/-/g; s/\\e/\\/g; s/\\&//g; s/\\\(aq/\x27/g;
                print;
        ' "$name" "$man/raftfs.conf.5" >"$tmp/example.conf"
        if "$raftfsd" -t -c "$tmp/example.conf" >"$tmp/t.out" 2>&1; then
                examples_ok=$((examples_ok + 1))
        else
                echo "FAIL: raftfs.conf.5 example '$name' does not pass raftfsd -t:"
                sed 's/^/    /' "$tmp/t.out"
                echo 1 >"$tmp/failed"
        fi
done

conf_c=$srcdir/daemon/conf.c
[ -f "$conf_c" ] || conf_c=

perl - "$man" "$tmp" "$conf_c" "$examples_ok" <<'PERL'
use strict; use warnings;
my ($man, $tmp, $conf_c, $examples_ok) = @ARGV;
my $fail = -e "$tmp/failed" ? 1 : 0;
my @pending_out;
sub fail { print "FAIL: @_\n"; $fail = 1; }
sub slurp { my $f = shift; open(my $h, "<", $f) or die "$f: $!\n"; local $/; my $s = <$h>; $s }

# Roff source -> text with escapes undone.
sub plain {
        my $s = shift;
        $s =~ s/\\f[BIRP]//g; $s =~ s/\\-/-/g; $s =~ s/\\&//g; $s =~ s/\\\(aq/'/g;
        $s =~ s/\\e/\\/g; $s =~ s/\\\([a-z][a-z]/ /g;
        return $s;
}
sub options_in {
        my $t = shift; my %o;
        while ($t =~ /(?:^|[\s\[\(,|"=])(--?[A-Za-z][A-Za-z0-9-]*)/g) { $o{$1} = 1; }
        return %o;
}
sub mentions { my ($t, $o) = @_; return $t =~ /(?<![\w-])\Q$o\E(?![\w-])/; }
sub page_defined_options {
        my $src = shift; my %o;
        my ($syn) = $src =~ /^\.SH SYNOPSIS\n(.*?)^\.SH /ms;
        %o = options_in(plain($syn // ""));
        while ($src =~ /^\.TP\n(.*)\n/mg) { my %x = options_in(plain($1)); %o = (%o, %x); }
        return %o;
}
sub pending_of {
        my $src = shift; my %p;
        while ($src =~ /^\.\\" drift-pending:(.*)$/mg) { $p{$_} = 1 for split ' ', $1; }
        return %p;
}

# 1. Options.
for my $prog ("raftfsd", "raftfsctl") {
        my $page = "$man/$prog.8";
        my $src = slurp($page); my $text = plain($src);
        my $help = slurp("$tmp/$prog.help");
        fail("$prog --help printed nothing") unless $help =~ /\S/;
        my %h = options_in($help);
        my %pending = pending_of($src);
        for my $o (sort keys %h) {
                fail("$prog --help lists $o, which $prog.8 does not document") unless mentions($text, $o);
        }
        my %p = page_defined_options($src);
        for my $o (sort keys %p) {
                next if mentions($help, $o) && !$pending{$o};
                if ($pending{$o}) {
                        if (mentions($help, $o)) {
                                fail("$prog.8: $o is marked drift-pending but --help lists it now: remove the marker");
                        } else {
                                push @pending_out, "$prog.8 documents $o, not in $prog --help yet";
                        }
                        next;
                }
                fail("$prog.8 documents $o, which $prog --help does not list");
        }
        for my $o (sort keys %pending) {
                fail("$prog.8: drift-pending $o is not documented in the page") unless mentions($text, $o);
        }
}

# 2. raftfsctl commands.
{
        my $src = slurp("$man/raftfsctl.8");
        my $help = slurp("$tmp/raftfsctl.help");
        my %cmd;
        while ($src =~ /^\.SS ([a-z][a-z ]*[a-z])/mg) { $cmd{$1} = 1; }
        for my $c (sort keys %cmd) {
                my $re = join('\s+', map { quotemeta } split / /, $c);
                fail("raftfsctl.8 has a section for '$c', which raftfsctl --help does not list")
                        unless $help =~ /(?<![\w-])$re(?![\w-])/;
        }
        my %first = map { (split / /)[0] => 1 } keys %cmd;
        # Usage lines of commands: indented, a lower-case word, then an
        # argument, an option, another lower-case word or the description.
        while ($help =~ /^\s+([a-z][a-z]+)(?=\s+(?:\[|[A-Z]|-|[a-z]+\s)|\s*$)/mg) {
                fail("raftfsctl --help lists command '$1', which raftfsctl.8 has no section for")
                        unless $first{$1};
        }
}

# 3. Keys and defaults.
my $conf = slurp("$man/raftfs.conf.5");
my ($body) = $conf =~ /^\.SH SECTIONS AND KEYS\n(.*?)^\.SH /ms;
my (%page_def, %page_range, $sect);
for my $para (split /^(?=\.SS |\.TP\n)/m, $body // "") {
        if ($para =~ /^\.SS \[([a-z]+)\]/) { $sect = $1; next; }
        next unless defined $sect && $para =~ /^\.TP\n\.B ([a-z_]+)\n(.*)/s;
        my ($key, $rest) = ($1, $2);
        my $t = plain($rest); $t =~ s/^\.[A-Z]+ ?//mg; $t =~ s/\s+/ /g;
        my ($head) = $t =~ /^\s*\(([^()]*(?:\([^()]*\)[^()]*)*)\)/;
        $head //= "";
        $page_def{"$sect.$key"} = $head =~ /\bdefault ([^,\s]+)/ ? $1 : undef;
        $page_range{"$sect.$key"} = [$1, $2] if $head =~ /\brange (\S+) to ([^,\s]+)/;
}
fail("raftfs.conf.5: no keys found under SECTIONS AND KEYS") unless %page_def;

my (%dump, $s);
open(my $dh, "<", "$tmp/dump") or die;
while (<$dh>) {
        chomp;
        next if /^\s*$/ || /^# effective configuration/;
        if (/^\[([a-z]+)\]$/) { $s = $1; next; }
        if (/^# ([a-z_]+) = \(not set\)$/ && defined $s) { $dump{"$s.$1"} = undef; next; }
        if (/^([a-z_]+) = (.*)$/ && defined $s) { $dump{"$s.$1"} = $2; next; }
        fail("raftfsd --dump-config printed an unexpected line: '$_'");
}
sub show { my $k = shift; $k =~ s/^([a-z]+)\./[$1] /; $k }
for my $k (sort keys %dump) {
        fail("the daemon accepts " . show($k) . ", which raftfs.conf.5 does not document") unless exists $page_def{$k};
}
for my $k (sort keys %page_def) {
        fail("raftfs.conf.5 documents " . show($k) . ", which the daemon does not accept") unless exists $dump{$k};
}
sub bytes {               # "1M" -> 1048576; other text unchanged
        my $v = shift;
        return $1 * 1024 ** (index("KMGT", uc $2) + 1) if $v =~ /^(\d+)([KMGTkmgt])$/;
        return $v;
}
sub norm {
        my $v = shift; return "" unless defined $v;
        return "yes" if $v =~ /^(yes|true|on)$/i;
        return "no"  if $v =~ /^(no|false|off)$/i;
        return bytes($v);
}
my %set_by_min = map { $_ => 1 } qw(node.name node.listen node.data_dir node.mountpoint
                                     node.control_socket cluster.initial_members);
for my $k (sort keys %page_def) {
        next if $set_by_min{$k} || !exists $dump{$k} || !defined $page_def{$k};
        my $want = $page_def{$k};
        if ($want =~ /^([a-z_]+)\/(\d+)$/) {          # derived: "ttl_ms/5"
                my ($other, $div) = ($1, $2);
                (my $sec = $k) =~ s/\..*//;
                my $base = $dump{"$sec.$other"};
                $want = defined $base ? int($base / $div) : "?";
        }
        fail(show($k) . ": raftfs.conf.5 says default $page_def{$k}, --dump-config says '" .
             ($dump{$k} // "(not set)") . "'") if norm($want) ne norm($dump{$k});
}

# 4. Ranges from the source table.
my $nranges = 0;
if ($conf_c) {
        my $c = slurp($conf_c);
        my ($table) = $c =~ /conf_keys\[\]\s*=\s*\{(.*?)\n\};/s;
        my $n = 0;
        while (($table // "") =~ /KEY\(\s*"([a-z]+)"\s*,\s*"([a-z_]+)"\s*,\s*\w+\s*,\s*[\w|\s]+,\s*(?:NULL|"[^"]*")\s*,\s*([^,]+?)\s*,\s*([^,]+?)\s*,/g) {
                my ($sec, $key, $lo, $hi) = ($1, $2, $3, $4);
                $n++;
                for ($lo, $hi) { s/UINT64_C\((\d+)\)/$1/g; s/[UuLl]+\b//g; }
                my ($vlo, $vhi) = (eval $lo, eval $hi);
                if (!defined $vlo || !defined $vhi) { fail("cannot evaluate the range '$lo'..'$hi' of [$sec] $key"); next; }
                my $r = $page_range{"$sec.$key"};
                if ($vlo == 0 && $vhi == 0) {
                        fail("raftfs.conf.5 gives [$sec] $key a range, the table has none") if $r;
                        next;
                }
                $nranges++;
                if (!$r) { fail("raftfs.conf.5 gives no range for [$sec] $key (table: $vlo to $vhi)"); next; }
                fail("[$sec] $key: raftfs.conf.5 says range $r->[0] to $r->[1], the table says $vlo to $vhi")
                        if bytes($r->[0]) != $vlo || bytes($r->[1]) != $vhi;
        }
        fail("$conf_c: no KEY(...) entries found in conf_keys[]") unless $n;
}

print "PENDING: $_\n" for @pending_out;
my $nkeys = keys %page_def;
print "PASS: options, commands, $nkeys keys with defaults, $nranges ranges, $examples_ok config examples agree with the manual\n"
        unless $fail;
exit $fail;
PERL
