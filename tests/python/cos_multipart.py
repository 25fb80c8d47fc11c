"""Multipart upload through the official SDK: upload_file (parallel parts), the resume path
(list_multipart_uploads + list_parts), and the errors of complete/abort."""

import hashlib
import os
import tempfile

from cos_common import bucket, check, client, done, expect_error

MB = 1024 * 1024
c = client()
b = bucket()
c.create_bucket(Bucket=b)


def data(n, size):
    out, seed = bytearray(), hashlib.sha256(str(n).encode()).digest()
    while len(out) < size:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return bytes(out[:size])


with tempfile.TemporaryDirectory() as tmp:
    # upload_file splits anything over PartSize (1 MB) into parts sent by 5 threads.
    path = os.path.join(tmp, "big.bin")
    big = data(1, 3 * MB + 12345)
    with open(path, "wb") as f:
        f.write(big)
    c.upload_file(Bucket=b, Key="dir/big.bin", LocalFilePath=path, ContentType="video/mp4",
                  Metadata={"x-cos-meta-source": "upload_file"})
    got = c.get_object(Bucket=b, Key="dir/big.bin")
    check(got["Body"].get_raw_stream().read() == big, "upload_file body")
    check(got["Content-Type"] == "video/mp4", "multipart Content-Type %r" % got["Content-Type"])
    check(got["x-cos-meta-source"] == "upload_file", "multipart metadata")
    check(got["ETag"].endswith('-4"'), "multipart ETag %r" % got["ETag"])
    check("Upload" not in c.list_multipart_uploads(Bucket=b), "completed upload is gone")

    # Resume: an upload with part 1 already there is found and finished by upload_file.
    second = data(2, 2 * MB + 7)
    path2 = os.path.join(tmp, "second.bin")
    with open(path2, "wb") as f:
        f.write(second)
    up = c.create_multipart_upload(Bucket=b, Key="second.bin")["UploadId"]
    c.upload_part(Bucket=b, Key="second.bin", Body=second[:MB], PartNumber=1, UploadId=up)
    listed = c.list_multipart_uploads(Bucket=b, Prefix="second.bin")
    check([u["UploadId"] for u in listed["Upload"]] == [up], "listed uploads %r" % listed)
    parts = c.list_parts(Bucket=b, Key="second.bin", UploadId=up)
    check([p["PartNumber"] for p in parts["Part"]] == ["1"], "listed parts %r" % parts)
    check(parts["Part"][0]["ETag"] == '"%s"' % hashlib.md5(second[:MB]).hexdigest(), "part ETag")
    c.upload_file(Bucket=b, Key="second.bin", LocalFilePath=path2)
    check(c.get_object(Bucket=b, Key="second.bin")["Body"].get_raw_stream().read() == second, "resumed body")
    expect_error(lambda: c.list_parts(Bucket=b, Key="second.bin", UploadId=up), "NoSuchUpload", 404)

# Complete refuses bad part lists.
up = c.create_multipart_upload(Bucket=b, Key="m")["UploadId"]
e1 = c.upload_part(Bucket=b, Key="m", Body=b"a" * MB, PartNumber=1, UploadId=up)["ETag"]
e2 = c.upload_part(Bucket=b, Key="m", Body=b"tail", PartNumber=2, UploadId=up)["ETag"]
small = c.upload_part(Bucket=b, Key="m", Body=b"tiny", PartNumber=3, UploadId=up)["ETag"]
expect_error(lambda: c.complete_multipart_upload(Bucket=b, Key="m", UploadId=up, MultipartUpload={"Part": [
    {"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]}), "InvalidPartOrder", 400)
expect_error(lambda: c.complete_multipart_upload(Bucket=b, Key="m", UploadId=up, MultipartUpload={"Part": [
    {"PartNumber": 1, "ETag": '"%s"' % ("0" * 32)}]}), "InvalidPart", 400)
expect_error(lambda: c.complete_multipart_upload(Bucket=b, Key="m", UploadId=up, MultipartUpload={"Part": [
    {"PartNumber": 2, "ETag": e2}, {"PartNumber": 3, "ETag": small}]}), "EntityTooSmall", 400)
expect_error(lambda: c.head_object(Bucket=b, Key="m"), "NoSuchResource", 404)
done_rt = c.complete_multipart_upload(Bucket=b, Key="m", UploadId=up, MultipartUpload={"Part": [
    {"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
check(done_rt["ETag"].endswith('-2"'), "complete ETag %r" % done_rt)
check(c.get_object(Bucket=b, Key="m")["Body"].get_raw_stream().read() == b"a" * MB + b"tail", "unlisted part 3 left out")
expect_error(lambda: c.upload_part(Bucket=b, Key="m", Body=b"x", PartNumber=1, UploadId=up), "NoSuchUpload", 404)

# Abort, and uploads never finished go away with their bucket.
up = c.create_multipart_upload(Bucket=b, Key="aborted")["UploadId"]
c.upload_part(Bucket=b, Key="aborted", Body=b"x", PartNumber=1, UploadId=up)
c.abort_multipart_upload(Bucket=b, Key="aborted", UploadId=up)
expect_error(lambda: c.abort_multipart_upload(Bucket=b, Key="aborted", UploadId=up), "NoSuchUpload", 404)
expect_error(lambda: c.upload_part(Bucket=b, Key="k", Body=b"x", PartNumber=0, UploadId="nope"), "InvalidArgument", 400)
c.create_multipart_upload(Bucket=b, Key="left-behind")
for k in ("dir/big.bin", "second.bin", "m"):
    c.delete_object(Bucket=b, Key=k)
c.delete_bucket(Bucket=b)

done()
