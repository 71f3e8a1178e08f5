/* The emulated PCI function's configuration space: an NVMe controller (class 010802). */
#ifndef NVMF_VU_PCI_H
#define NVMF_VU_PCI_H

#include <stdbool.h>
#include <stdint.h>

#define VU_PCI_CFG_SIZE 4096u
#define VU_BAR4_SIZE 0x1000u /* MSI-X table */
#define VU_BAR5_SIZE 0x1000u /* MSI-X PBA */

struct vu_pci {
	uint8_t cfg[VU_PCI_CFG_SIZE];
	uint8_t wmask[VU_PCI_CFG_SIZE]; /* bits the guest may change */
	uint8_t bar4[VU_BAR4_SIZE];
	uint8_t bar5[VU_BAR5_SIZE];
};

/* Fill the power-on state: BAR0 of bar0_size, MSI-X with nvec vectors in BAR4/BAR5. */
void vu_pci_init(struct vu_pci *p, uint32_t bar0_size, unsigned nvec);
/* Read/write config space bytes [off, off+len) (bounds checked by the caller).
 * Returns true when the write asked for a function level reset. */
void vu_pci_cfg_read(const struct vu_pci *p, uint32_t off, void *buf, uint32_t len);
bool vu_pci_cfg_write(struct vu_pci *p, uint32_t off, const void *buf, uint32_t len);
/* A function level reset: registers back to their power-on values. */
void vu_pci_reset(struct vu_pci *p, uint32_t bar0_size, unsigned nvec);

#endif
