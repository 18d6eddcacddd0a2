/* SPDX-License-Identifier: MIT */
/* test-s3xml.c: parsing the XML answers of S3 servers (AWS, MinIO, s3rver). */
#include "s3.h"

#include <string.h>

#include "tap.h"

#define S(x) x, sizeof(x) - 1

static void test_list(void)
{
	struct mbi_s3_listing l;
	static const char aws[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Name>bkt</Name><Prefix>repo/</Prefix><KeyCount>2</KeyCount>"
		"<MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
		"<Contents><Key>repo/packs/ab/ab01</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
		"<ETag>&quot;0123&quot;</ETag><Size>33554432</Size><StorageClass>STANDARD</StorageClass></Contents>"
		"<Contents><Key>repo/a &amp; b</Key><Size>0</Size></Contents>"
		"</ListBucketResult>";
	static const char last[] =
		"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
	static const char prefixed[] =
		"<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<s3:Contents><s3:Key>k</s3:Key><s3:Size>18446744073709551615</s3:Size></s3:Contents>"
		"</s3:ListBucketResult>";

	is_int(mbi_s3xml_list(S(aws), &l), MB_OK, "an AWS page parses");
	is_int(l.nobjs, 2, "two objects");
	is_str(l.objs[0].key, "repo/packs/ab/ab01", "first key");
	is_int(l.objs[0].size, 33554432, "first size");
	is_str(l.objs[1].key, "repo/a & b", "entities are decoded");
	ok(l.truncated, "truncated");
	is_str(l.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=",
	       "continuation token");
	mbi_s3_listing_release(&l);

	is_int(mbi_s3xml_list(S(last), &l), MB_OK, "an empty last page parses");
	ok(!l.truncated && !l.nobjs && !l.next_token, "nothing in it");
	mbi_s3_listing_release(&l);

	is_int(mbi_s3xml_list(S(prefixed), &l), MB_OK,
	       "a namespace prefix is fine");
	ok(l.nobjs == 1 && l.objs[0].size == UINT64_MAX,
	   "the largest size parses");
	mbi_s3_listing_release(&l);

	is_int(mbi_s3xml_list(S("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"), &l),
	       MB_E_INVAL, "truncated without a token is refused");
	is_int(mbi_s3xml_list(S("<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>"), &l),
	       MB_E_INVAL, "an object without size is refused");
	is_int(mbi_s3xml_list(S("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>"), &l),
	       MB_E_INVAL, "a negative size is refused");
	is_int(mbi_s3xml_list(S("<ListBucketResult><Contents><Key>k</Key><Size>18446744073709551616</Size></Contents></ListBucketResult>"), &l),
	       MB_E_INVAL, "a size past 64 bits is refused");
	is_int(mbi_s3xml_list(S("<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>"), &l),
	       MB_E_INVAL, "IsTruncated must be true or false");
	is_int(mbi_s3xml_list(S("<Error><Code>NoSuchBucket</Code></Error>"), &l),
	       MB_E_INVAL, "another root is refused");
	is_int(mbi_s3xml_list(S("<ListBucketResult><Contents>"), &l),
	       MB_E_INVAL, "a cut document is refused");
	is_int(mbi_s3xml_list(S(""), &l), MB_E_INVAL, "no document is refused");
	is_int(mbi_s3xml_list(S("<ListBucketResult><Contents><Key>a&#0;b</Key><Size>1</Size></Contents></ListBucketResult>"), &l),
	       MB_E_INVAL, "a NUL character reference is refused");
	/* string searching would find the key inside the comment */
	is_int(mbi_s3xml_list(S("<ListBucketResult><!-- <Contents><Key>x</Key><Size>1</Size></Contents> --></ListBucketResult>"), &l),
	       MB_OK, "a comment parses");
	is_int(l.nobjs, 0, "and holds no object");
	mbi_s3_listing_release(&l);
}

static void test_entities(void)
{
	struct mbi_s3_listing l;
	static const char laughs[] =
		"<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
		"<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>"
		"<ListBucketResult><Contents><Key>&lol2;</Key><Size>1</Size></Contents></ListBucketResult>";
	static const char external[] =
		"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
		"<ListBucketResult><Contents><Key>&e;</Key><Size>1</Size></Contents></ListBucketResult>";

	is_int(mbi_s3xml_list(S(laughs), &l), MB_E_INVAL,
	       "a DOCTYPE with entities is refused");
	is_int(mbi_s3xml_list(S(external), &l), MB_E_INVAL,
	       "an external entity is refused");
}

static void test_error(void)
{
	struct mbi_s3_error e;

	is_int(mbi_s3xml_error(S("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
				 "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match.</Message>"
				 "<StringToSign>AWS4-HMAC-SHA256\n20240101T000000Z</StringToSign><RequestId>1</RequestId></Error>"), &e),
	       MB_OK, "an Error parses");
	is_str(e.code, "SignatureDoesNotMatch", "its code");
	is_str(e.message, "The request signature we calculated does not match.",
	       "its message");
	is_int(mbi_s3xml_error(S("<Error><Message>two\nlines</Message></Error>"), &e),
	       MB_OK, "an Error without Code parses");
	is_str(e.code, "", "no code");
	is_str(e.message, "two lines", "a newline becomes a space");
	is_int(mbi_s3xml_error(S("<html><body>502 Bad Gateway</body></html>"), &e),
	       MB_E_INVAL, "a proxy's HTML page is no Error");
	is_int(mbi_s3xml_error(S("502 Bad Gateway"), &e), MB_E_INVAL,
	       "plain text is no Error");
}

static void test_multipart(void)
{
	struct mbi_s3_error e;
	char *id = NULL, *etag = NULL;

	is_int(mbi_s3xml_initiate(S("<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
				    "<Bucket>b</Bucket><Key>tmp/x</Key><UploadId>VXBsb2FkIElE</UploadId>"
				    "</InitiateMultipartUploadResult>"), &id),
	       MB_OK, "InitiateMultipartUploadResult parses");
	is_str(id, "VXBsb2FkIElE", "upload id");
	free(id);
	is_int(mbi_s3xml_initiate(S("<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>"), &id),
	       MB_E_INVAL, "an empty upload id is refused");

	is_int(mbi_s3xml_complete(S("<CompleteMultipartUploadResult><Location>x</Location><Bucket>b</Bucket>"
				    "<Key>k</Key><ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
				    "</CompleteMultipartUploadResult>"), &etag, &e),
	       MB_OK, "CompleteMultipartUploadResult parses");
	is_str(etag, "\"3858f62230ac3c915f300c664312c11f-9\"", "its ETag");
	free(etag);
	etag = NULL;
	/* status 200 and yet an error: the pitfall of CompleteMultipartUpload */
	is_int(mbi_s3xml_complete(S("<?xml version=\"1.0\"?>\n\n   <Error><Code>InternalError</Code>"
				    "<Message>We encountered an internal error. Please try again.</Message></Error>"),
				  &etag, &e),
	       MB_E_STORE, "an Error in a 200 answer is an error");
	is_str(e.code, "InternalError", "with its code");
	ok(etag == NULL, "and no ETag");
	is_int(mbi_s3xml_copy(S("<CopyObjectResult><LastModified>2024-01-01T00:00:00Z</LastModified>"
				"<ETag>\"abc\"</ETag></CopyObjectResult>"), &e),
	       MB_OK, "CopyObjectResult parses");
	is_int(mbi_s3xml_copy(S("<Error><Code>SlowDown</Code></Error>"), &e),
	       MB_E_STORE, "a copy's Error is an error");
	is_str(e.code, "SlowDown", "with its code");
}

static void test_delete(void)
{
	struct mbi_s3_delete_result r;

	is_int(mbi_s3xml_delete(S("<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
				  "<Deleted><Key>a</Key></Deleted><Deleted><Key>b</Key></Deleted>"
				  "<Error><Key>c</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
				  "</DeleteResult>"), &r),
	       MB_OK, "DeleteResult parses");
	is_int(r.ndeleted, 2, "two deleted");
	is_int(r.nerrors, 1, "one error");
	is_str(r.errors[0].key, "c", "the key that failed");
	is_str(r.errors[0].err.code, "AccessDenied", "and why");
	mbi_s3_delete_result_release(&r);
	is_int(mbi_s3xml_delete(S("<DeleteResult/>"), &r), MB_OK,
	       "a quiet DeleteResult parses");
	is_int(r.nerrors + r.ndeleted, 0, "nothing in it");
	mbi_s3_delete_result_release(&r);
	is_int(mbi_s3xml_delete(S("<DeleteResult><Error><Code>X</Code></Error></DeleteResult>"), &r),
	       MB_E_INVAL, "an error without key is refused");
}

static void test_escape(void)
{
	struct mbi_buf b = { 0 };

	is_int(mbi_s3xml_escape(&b, "a<b>&\"c'"), MB_OK, "escape");
	is_str(b.data, "a&lt;b&gt;&amp;&quot;c&apos;", "all five are escaped");
	mbi_buf_release(&b);
}

int main(void)
{
	test_list();
	test_entities();
	test_error();
	test_multipart();
	test_delete();
	test_escape();
	return tap_done();
}
