"""Listing through the official SDK: more than 1000 keys paged with max 1000 then marker, UTF-8
byte order, prefix and delimiter with CommonPrefixes, max-keys limits."""

import time
from concurrent.futures import ThreadPoolExecutor

from cos_common import bucket, check, client, done, expect_error

N = 1234
c = client()
b = bucket()
c.create_bucket(Bucket=b)

keys = ["k%05d" % i for i in range(N)]
t0 = time.time()
with ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda k: c.put_object(Bucket=b, Key=k, Body=k.encode()), keys))
put_seconds = time.time() - t0

t0 = time.time()
first = c.list_objects(Bucket=b, MaxKeys=1000)
check(len(first["Contents"]) == 1000, "first page %d" % len(first["Contents"]))
check(first["IsTruncated"] == "true", "first page truncated")
check(first["NextMarker"] == "k00999", "NextMarker %r" % first.get("NextMarker"))
second = c.list_objects(Bucket=b, MaxKeys=1000, Marker=first["NextMarker"])
check(second["IsTruncated"] == "false", "second page is the last")
check("NextMarker" not in second, "no NextMarker on the last page")
listed = [o["Key"] for o in first["Contents"] + second["Contents"]]
check(listed == keys, "all %d keys once, in order (got %d)" % (N, len(listed)))
list_seconds = time.time() - t0
check(second["Contents"][0]["Size"] == "6", "Size %r" % second["Contents"][0]["Size"])
check(second["Contents"][0]["ETag"].startswith('"'), "ETag quoted")

# Default max-keys is 1000; an explicit smaller page.
check(len(c.list_objects(Bucket=b)["Contents"]) == 1000, "default page size")
page = c.list_objects(Bucket=b, MaxKeys=7, Marker="k00010")
check([o["Key"] for o in page["Contents"]] == ["k%05d" % i for i in range(11, 18)], "strictly after marker")
check(page["NextMarker"] == "k00017", "NextMarker without delimiter")
zero = c.list_objects(Bucket=b, MaxKeys=0)
check("Contents" not in zero, "max-keys 0 lists nothing")
expect_error(lambda: c.list_objects(Bucket=b, MaxKeys=1001), "InvalidArgument", 400)

# Prefix, delimiter, UTF-8 byte order, Unicode and spaces in keys.
b2 = bucket()
c.create_bucket(Bucket=b2)
tree = ["a.txt", "docs/x.md", "docs/y/z.md", "logs/2024/01.log", "logs/2024/02.log",
        "logs/2025/01.log", "logs/readme", "消息/一 二.txt", "消息/三+四.txt", "\u00e9", "Z", "z"]

def put(k):
    c.put_object(Bucket=b2, Key=k, Body=b"x")

with ThreadPoolExecutor(4) as pool:
    list(pool.map(put, tree))
everything = [o["Key"] for o in c.list_objects(Bucket=b2)["Contents"]]
check(everything == sorted(tree, key=lambda k: k.encode("utf-8")), "UTF-8 byte order: %r" % everything)

top = c.list_objects(Bucket=b2, Delimiter="/")
check([p["Prefix"] for p in top["CommonPrefixes"]] == ["docs/", "logs/", "消息/"], "top prefixes %r" % top)
check([o["Key"] for o in top["Contents"]] == ["Z", "a.txt", "z", "\u00e9"], "top keys %r" % top["Contents"])

logs = c.list_objects(Bucket=b2, Prefix="logs/", Delimiter="/")
check([p["Prefix"] for p in logs["CommonPrefixes"]] == ["logs/2024/", "logs/2025/"], "logs prefixes")
check([o["Key"] for o in logs["Contents"]] == ["logs/readme"], "logs keys")
check(logs["Prefix"] == "logs/", "Prefix echoed")

uni = c.list_objects(Bucket=b2, Prefix="消息/")
check([o["Key"] for o in uni["Contents"]] == ["消息/一 二.txt", "消息/三+四.txt"], "unicode prefix %r" % uni)

# Paging through a delimiter listing counts prefixes and keys together.
seen, marker = [], ""
while True:
    page = c.list_objects(Bucket=b2, Delimiter="/", MaxKeys=2, Marker=marker)
    seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])] + [o["Key"] for o in page.get("Contents", [])]
    if page["IsTruncated"] != "true":
        break
    marker = page["NextMarker"]
check(sorted(seen) == sorted(["docs/", "logs/", "消息/", "Z", "a.txt", "z", "\u00e9"]), "paged delimiter listing %r" % seen)

done(keys=N, put_seconds=round(put_seconds, 2), list_seconds=round(list_seconds, 2))
