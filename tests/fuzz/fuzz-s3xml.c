/* SPDX-License-Identifier: MIT */
/* fuzz-s3xml.c: every S3 response parser on untrusted bytes. */
#include "s3.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mbi_s3_listing l;
	struct mbi_s3_error e;
	struct mbi_s3_delete_result d;
	char *s = NULL;

	if (!mbi_s3xml_list(data, size, &l))
		mbi_s3_listing_release(&l);
	mbi_s3xml_error(data, size, &e);
	if (!mbi_s3xml_initiate(data, size, &s))
		free(s);
	s = NULL;
	if (!mbi_s3xml_complete(data, size, &s, &e))
		free(s);
	mbi_s3xml_copy(data, size, &e);
	if (!mbi_s3xml_delete(data, size, &d))
		mbi_s3_delete_result_release(&d);
	return 0;
}
