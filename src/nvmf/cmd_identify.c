/* nvmf identify and nvmf list: controller and namespace data. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void trimmed(char *out, size_t outlen, const char *in, size_t inlen)
{
	size_t n = strnlen(in, inlen);
	while (n && (in[n - 1] == ' ' || in[n - 1] == '\0'))
		n--;
	snprintf(out, outlen, "%.*s", (int)n, in);
}

static void human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.2f %s", v, units[u]);
}

#define JADD(o, k, v) json_object_object_add((o), (k), (v))

static json_object *ctrl_json(const struct nvme_id_ctrl *id)
{
	char sn[21], mn[41], fr[9], nqn[257];
	trimmed(sn, sizeof(sn), id->sn, sizeof(id->sn));
	trimmed(mn, sizeof(mn), id->mn, sizeof(id->mn));
	trimmed(fr, sizeof(fr), id->fr, sizeof(id->fr));
	trimmed(nqn, sizeof(nqn), id->subnqn, sizeof(id->subnqn));
	json_object *o = json_object_new_object();
	JADD(o, "vid", json_object_new_int(id->vid));
	JADD(o, "ssvid", json_object_new_int(id->ssvid));
	JADD(o, "sn", json_object_new_string(sn));
	JADD(o, "mn", json_object_new_string(mn));
	JADD(o, "fr", json_object_new_string(fr));
	JADD(o, "rab", json_object_new_int(id->rab));
	JADD(o, "cmic", json_object_new_int(id->cmic));
	JADD(o, "mdts", json_object_new_int(id->mdts));
	JADD(o, "cntlid", json_object_new_int(id->cntlid));
	JADD(o, "ver", json_object_new_int64(id->ver));
	JADD(o, "oaes", json_object_new_int64(id->oaes));
	JADD(o, "ctratt", json_object_new_int64(id->ctratt));
	JADD(o, "cntrltype", json_object_new_int(id->cntrltype));
	JADD(o, "oacs", json_object_new_int(id->oacs));
	JADD(o, "acl", json_object_new_int(id->acl));
	JADD(o, "aerl", json_object_new_int(id->aerl));
	JADD(o, "frmw", json_object_new_int(id->frmw));
	JADD(o, "lpa", json_object_new_int(id->lpa));
	JADD(o, "elpe", json_object_new_int(id->elpe));
	JADD(o, "kas", json_object_new_int(id->kas));
	JADD(o, "sqes", json_object_new_int(id->sqes));
	JADD(o, "cqes", json_object_new_int(id->cqes));
	JADD(o, "maxcmd", json_object_new_int(id->maxcmd));
	JADD(o, "nn", json_object_new_int64(id->nn));
	JADD(o, "oncs", json_object_new_int(id->oncs));
	JADD(o, "fuses", json_object_new_int(id->fuses));
	JADD(o, "vwc", json_object_new_int(id->vwc));
	JADD(o, "sgls", json_object_new_int64(id->sgls));
	JADD(o, "subnqn", json_object_new_string(nqn));
	JADD(o, "ioccsz", json_object_new_int64(id->ioccsz));
	JADD(o, "iorcsz", json_object_new_int64(id->iorcsz));
	JADD(o, "icdoff", json_object_new_int(id->icdoff));
	JADD(o, "fcatt", json_object_new_int(id->fcatt));
	JADD(o, "msdbd", json_object_new_int(id->msdbd));
	return o;
}

static void ctrl_print(const struct nvme_id_ctrl *id, uint16_t cntlid)
{
	char sn[21], mn[41], fr[9], nqn[257];
	trimmed(sn, sizeof(sn), id->sn, sizeof(id->sn));
	trimmed(mn, sizeof(mn), id->mn, sizeof(id->mn));
	trimmed(fr, sizeof(fr), id->fr, sizeof(id->fr));
	trimmed(nqn, sizeof(nqn), id->subnqn, sizeof(id->subnqn));
	printf("NVME Identify Controller:\n");
	printf("vid       : %#x\n", id->vid);
	printf("ssvid     : %#x\n", id->ssvid);
	printf("sn        : %s\n", sn);
	printf("mn        : %s\n", mn);
	printf("fr        : %s\n", fr);
	printf("rab       : %u\n", id->rab);
	printf("cmic      : %#x\n", id->cmic);
	printf("mdts      : %u\n", id->mdts);
	printf("cntlid    : %#x (connected as %#x)\n", id->cntlid, cntlid);
	printf("ver       : %u.%u.%u\n", id->ver >> 16, (id->ver >> 8) & 0xff, id->ver & 0xff);
	printf("oaes      : %#x\n", id->oaes);
	printf("ctratt    : %#x\n", id->ctratt);
	printf("cntrltype : %u (%s)\n", id->cntrltype,
	       id->cntrltype == NVME_CTRL_TYPE_IO          ? "I/O controller"
	       : id->cntrltype == NVME_CTRL_TYPE_DISCOVERY ? "discovery controller"
	       : id->cntrltype == NVME_CTRL_TYPE_ADMIN     ? "administrative controller"
							   : "not reported");
	printf("oacs      : %#x\n", id->oacs);
	printf("acl       : %u\n", id->acl);
	printf("aerl      : %u\n", id->aerl);
	printf("frmw      : %#x\n", id->frmw);
	printf("lpa       : %#x\n", id->lpa);
	printf("elpe      : %u\n", id->elpe);
	printf("kas       : %u\n", id->kas);
	printf("sqes      : %#x\n", id->sqes);
	printf("cqes      : %#x\n", id->cqes);
	printf("maxcmd    : %u\n", id->maxcmd);
	printf("nn        : %u\n", id->nn);
	printf("oncs      : %#x\n", id->oncs);
	printf("fuses     : %#x\n", id->fuses);
	printf("vwc       : %#x\n", id->vwc);
	printf("sgls      : %#x\n", id->sgls);
	printf("subnqn    : %s\n", nqn);
	printf("ioccsz    : %u\n", id->ioccsz);
	printf("iorcsz    : %u\n", id->iorcsz);
	printf("icdoff    : %u\n", id->icdoff);
	printf("fcatt     : %#x\n", id->fcatt);
	printf("msdbd     : %u\n", id->msdbd);
}

static json_object *ns_json(uint32_t nsid, const struct nvme_id_ns *ns)
{
	json_object *o = json_object_new_object();
	JADD(o, "nsid", json_object_new_int64(nsid));
	JADD(o, "nsze", json_object_new_uint64(ns->nsze));
	JADD(o, "ncap", json_object_new_uint64(ns->ncap));
	JADD(o, "nuse", json_object_new_uint64(ns->nuse));
	JADD(o, "nsfeat", json_object_new_int(ns->nsfeat));
	JADD(o, "nlbaf", json_object_new_int(ns->nlbaf));
	JADD(o, "flbas", json_object_new_int(ns->flbas));
	JADD(o, "dlfeat", json_object_new_int(ns->dlfeat));
	JADD(o, "nmic", json_object_new_int(ns->nmic));
	char hex[33];
	for (int i = 0; i < 16; i++)
		sprintf(hex + 2 * i, "%02x", ns->nguid[i]);
	JADD(o, "nguid", json_object_new_string(hex));
	for (int i = 0; i < 8; i++)
		sprintf(hex + 2 * i, "%02x", ns->eui64[i]);
	JADD(o, "eui64", json_object_new_string(hex));
	json_object *lbafs = json_object_new_array();
	for (unsigned i = 0; i <= ns->nlbaf && i < 64; i++) {
		json_object *f = json_object_new_object();
		JADD(f, "ms", json_object_new_int(ns->lbaf[i].ms));
		JADD(f, "ds", json_object_new_int(ns->lbaf[i].lbads));
		JADD(f, "rp", json_object_new_int(ns->lbaf[i].rp));
		json_object_array_add(lbafs, f);
	}
	JADD(o, "lbafs", lbafs);
	return o;
}

static void ns_print(uint32_t nsid, const struct nvme_id_ns *ns)
{
	printf("\nNVME Identify Namespace %u:\n", nsid);
	printf("nsze    : %#llx\n", (unsigned long long)ns->nsze);
	printf("ncap    : %#llx\n", (unsigned long long)ns->ncap);
	printf("nuse    : %#llx\n", (unsigned long long)ns->nuse);
	printf("nsfeat  : %#x\n", ns->nsfeat);
	printf("nlbaf   : %u\n", ns->nlbaf);
	printf("flbas   : %#x\n", ns->flbas);
	printf("dlfeat  : %u\n", ns->dlfeat);
	printf("nmic    : %u\n", ns->nmic);
	printf("nguid   : ");
	for (int i = 0; i < 16; i++)
		printf("%02x", ns->nguid[i]);
	printf("\neui64   : ");
	for (int i = 0; i < 8; i++)
		printf("%02x", ns->eui64[i]);
	printf("\n");
	for (unsigned i = 0; i <= ns->nlbaf && i < 64; i++)
		printf("lbaf %2u : ms:%-3u lbads:%-2u rp:%#x%s\n", i, ns->lbaf[i].ms, ns->lbaf[i].lbads, ns->lbaf[i].rp,
		       i == NVME_NS_FLBAS_INDEX(ns->flbas) ? " (in use)" : "");
}

int cmd_identify(int argc, char **argv)
{
	struct cli cli = {0};
	cli_parse(&cli, argc, argv, NULL, NULL, NULL, NULL, "[--json]");
	cli.opts.nr_io_queues = 0;
	struct nvmf_host_ctrl *c = cli_connect(&cli, false);
	const struct nvme_id_ctrl *id = nvmf_host_ctrl_identify_data(c);
	json_object *root = NULL, *nss = NULL;
	if (cli.json) {
		root = json_object_new_object();
		JADD(root, "controller", ctrl_json(id));
		JADD(root, "namespaces", nss = json_object_new_array());
	} else {
		ctrl_print(id, nvmf_host_ctrl_cntlid(c));
	}
	uint32_t *list = NULL;
	size_t n = 0;
	/* A discovery controller has no namespaces to list. */
	int rc = id->cntrltype == NVME_CTRL_TYPE_DISCOVERY ? 0 : nvmf_host_active_namespaces(c, &list, &n);
	struct nvme_id_ns *ns = malloc(sizeof(*ns));
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = nvmf_host_identify(c, NVME_CNS_NAMESPACE, list[i], 0, ns);
		if (rc)
			break;
		if (root)
			json_object_array_add(nss, ns_json(list[i], ns));
		else
			ns_print(list[i], ns);
	}
	free(list);
	free(ns);
	return cli_finish(&cli, c, root, rc);
}

int cmd_list(int argc, char **argv)
{
	struct cli cli = {0};
	cli_parse(&cli, argc, argv, NULL, NULL, NULL, NULL, "[--json]");
	cli.opts.nr_io_queues = 0;
	struct nvmf_host_ctrl *c = cli_connect(&cli, false);
	uint32_t *list = NULL;
	size_t n = 0;
	bool discovery = nvmf_host_ctrl_identify_data(c)->cntrltype == NVME_CTRL_TYPE_DISCOVERY;
	int rc = discovery ? 0 : nvmf_host_active_namespaces(c, &list, &n);
	json_object *root = NULL, *arr = NULL;
	if (cli.json) {
		root = json_object_new_object();
		JADD(root, "subnqn", json_object_new_string(cli.addr.subnqn));
		JADD(root, "namespaces", arr = json_object_new_array());
	} else if (rc == 0) {
		printf("%-10s %-18s %-14s %-10s\n", "Namespace", "Blocks", "Size", "Block size");
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct nvmf_host_ns_info info;
		rc = nvmf_host_ns_info(c, list[i], &info);
		if (rc)
			break;
		uint64_t bytes = info.nsze * info.block_size;
		if (root) {
			json_object *o = json_object_new_object();
			JADD(o, "nsid", json_object_new_int64(info.nsid));
			JADD(o, "blocks", json_object_new_uint64(info.nsze));
			JADD(o, "block_size", json_object_new_int64(info.block_size));
			JADD(o, "bytes", json_object_new_uint64(bytes));
			json_object_array_add(arr, o);
		} else {
			char h[32];
			human_size(bytes, h, sizeof(h));
			printf("%-10u %-18llu %-14s %-10u\n", info.nsid, (unsigned long long)info.nsze, h,
			       info.block_size);
		}
	}
	free(list);
	return cli_finish(&cli, c, root, rc);
}
