/*
 * PCI configuration space of the emulated controller: type 0 header, class
 * 010802 (NVM Express), BAR0 64-bit memory (registers and doorbells), BAR4
 * and BAR5 (MSI-X table and PBA), and the capabilities a PCIe NVMe function
 * has: power management, MSI-X, PCI Express (with function level reset) and
 * MSI (one message: every queue's interrupt, for a host without MSI-X).
 */
#include <string.h>

#include "vu_pci.h"

#define VU_VENDOR_ID 0x4e46 /* not a registered vendor: the class code is what drivers bind to */
#define VU_DEVICE_ID 0x0001
#define CAP_PM 0x40
#define CAP_MSIX 0x50
#define CAP_PCIE 0x60 /* through 0x9b */
#define CAP_MSI 0xa0
#define PCIE_DEVCTL (CAP_PCIE + 8)
#define PCIE_DEVCTL_FLR 0x8000u

static void put16(uint8_t *b, uint32_t off, uint16_t v)
{
	b[off] = (uint8_t)v;
	b[off + 1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *b, uint32_t off, uint32_t v)
{
	put16(b, off, (uint16_t)v);
	put16(b, off + 2, (uint16_t)(v >> 16));
}

/* Writable bits of a 32-bit memory BAR (or the low half of a 64-bit one) of size bytes. */
static void bar_mask(uint8_t *m, uint32_t off, uint32_t size)
{
	put32(m, off, ~(size - 1) & ~0xfu);
}

void vu_pci_init(struct vu_pci *p, uint32_t bar0_size, unsigned nvec)
{
	memset(p, 0, sizeof(*p));
	uint8_t *c = p->cfg, *m = p->wmask;
	put16(c, 0x00, VU_VENDOR_ID);
	put16(c, 0x02, VU_DEVICE_ID);
	put16(c, 0x06, 0x0010); /* status: capabilities list */
	c[0x09] = 0x02;		/* programming interface: NVM Express */
	c[0x0a] = 0x08;		/* subclass: non-volatile memory */
	c[0x0b] = 0x01;		/* class: mass storage */
	put32(c, 0x10, 0x4);	/* BAR0: 64-bit memory */
	put32(c, 0x20, 0x0);	/* BAR4: 32-bit memory */
	put32(c, 0x24, 0x0);	/* BAR5 */
	put16(c, 0x2c, VU_VENDOR_ID);
	put16(c, 0x2e, VU_DEVICE_ID);
	c[0x34] = CAP_PM;
	c[0x3d] = 0x01; /* INTA# */

	/* Power management: version 3, No_Soft_Reset. */
	c[CAP_PM] = 0x01;
	c[CAP_PM + 1] = CAP_MSIX;
	put16(c, CAP_PM + 2, 0x0003);
	put16(c, CAP_PM + 4, 0x0008);
	/* MSI-X: table in BAR4 at 0, PBA in BAR5 at 0. */
	c[CAP_MSIX] = 0x11;
	c[CAP_MSIX + 1] = CAP_PCIE;
	put16(c, CAP_MSIX + 2, (uint16_t)(nvec - 1));
	put32(c, CAP_MSIX + 4, 4);
	put32(c, CAP_MSIX + 8, 5);
	/* PCI Express v2 endpoint: FLR capable, 2.5 GT/s x1. */
	c[CAP_PCIE] = 0x10;
	c[CAP_PCIE + 1] = CAP_MSI;
	put16(c, CAP_PCIE + 2, 0x0002);
	put32(c, CAP_PCIE + 4, 1u << 28);
	put16(c, PCIE_DEVCTL, 0x2810);
	put32(c, CAP_PCIE + 0x0c, 0x00000011);
	put16(c, CAP_PCIE + 0x12, 0x0011);
	/* MSI: 64-bit addresses, one message (Multiple Message Capable 0). */
	c[CAP_MSI] = 0x05;
	c[CAP_MSI + 1] = 0x00;
	put16(c, CAP_MSI + 2, 0x0080);

	put16(m, 0x04, 0x0547); /* I/O, memory, bus master, SERR#, INTx disable */
	bar_mask(m, 0x10, bar0_size);
	put32(m, 0x14, 0xffffffffu);
	bar_mask(m, 0x20, VU_BAR4_SIZE);
	bar_mask(m, 0x24, VU_BAR5_SIZE);
	m[0x3c] = 0xff;
	put16(m, CAP_PM + 4, 0x0103);
	put16(m, CAP_MSIX + 2, 0xc000); /* enable, function mask */
	put16(m, PCIE_DEVCTL, 0x7fff);
	put16(m, CAP_PCIE + 0x28, 0xffff); /* device control 2 */
	put16(m, CAP_PCIE + 0x10, 0x0fff); /* link control */
	put16(m, CAP_MSI + 2, 0x0001);      /* MSI enable */
	put32(m, CAP_MSI + 4, 0xfffffffcu); /* message address */
	put32(m, CAP_MSI + 8, 0xffffffffu); /* message upper address */
	put16(m, CAP_MSI + 12, 0xffff);     /* message data */
}

void vu_pci_reset(struct vu_pci *p, uint32_t bar0_size, unsigned nvec)
{
	/* Keep the BARs: the client placed them; everything else returns to power-on values. */
	uint8_t bars[0x28 - 0x10];
	memcpy(bars, p->cfg + 0x10, sizeof(bars));
	vu_pci_init(p, bar0_size, nvec);
	memcpy(p->cfg + 0x10, bars, sizeof(bars));
}

void vu_pci_cfg_read(const struct vu_pci *p, uint32_t off, void *buf, uint32_t len)
{
	memcpy(buf, p->cfg + off, len);
}

bool vu_pci_cfg_write(struct vu_pci *p, uint32_t off, const void *buf, uint32_t len)
{
	const uint8_t *v = buf;
	bool flr = false;
	for (uint32_t i = 0; i < len; i++) {
		uint32_t a = off + i;
		/* Initiate Function Level Reset: write-only, reads as 0. */
		if (a == PCIE_DEVCTL + 1 && (v[i] & (PCIE_DEVCTL_FLR >> 8)))
			flr = true;
		p->cfg[a] = (uint8_t)((p->cfg[a] & ~p->wmask[a]) | (v[i] & p->wmask[a]));
	}
	return flr;
}
