/*
 * The vfio-user protocol (QEMU docs/interop/vfio-user.rst, version 0.1):
 * message layouts in host byte order, and the VFIO constants it reuses.
 * Sizes are checked at compile time.
 */
#ifndef NVMF_VFIO_USER_SPEC_H
#define NVMF_VFIO_USER_SPEC_H

#include <assert.h>
#include <stdint.h>

#define VFIO_USER_MAJOR 0
#define VFIO_USER_MINOR 1

enum vfio_user_command {
	VFIO_USER_VERSION = 1,
	VFIO_USER_DMA_MAP = 2,
	VFIO_USER_DMA_UNMAP = 3,
	VFIO_USER_DEVICE_GET_INFO = 4,
	VFIO_USER_DEVICE_GET_REGION_INFO = 5,
	VFIO_USER_DEVICE_GET_REGION_IO_FDS = 6,
	VFIO_USER_DEVICE_GET_IRQ_INFO = 7,
	VFIO_USER_DEVICE_SET_IRQS = 8,
	VFIO_USER_REGION_READ = 9,
	VFIO_USER_REGION_WRITE = 10,
	VFIO_USER_DMA_READ = 11,
	VFIO_USER_DMA_WRITE = 12,
	VFIO_USER_DEVICE_RESET = 13,
	VFIO_USER_REGION_WRITE_MULTI = 15,
	VFIO_USER_DEVICE_FEATURE = 16,
	VFIO_USER_MIG_DATA_READ = 17,
	VFIO_USER_MIG_DATA_WRITE = 18,
};

struct vfio_user_header {
	uint16_t msg_id;
	uint16_t cmd;
	uint32_t msg_size; /* header included */
	uint32_t flags;
	uint32_t error_no; /* an errno in an error reply */
};
static_assert(sizeof(struct vfio_user_header) == 16, "vfio-user header");

#define VFIO_USER_F_TYPE_MASK 0xfu
#define VFIO_USER_F_TYPE_COMMAND 0x0u
#define VFIO_USER_F_TYPE_REPLY 0x1u
#define VFIO_USER_F_NO_REPLY (1u << 4)
#define VFIO_USER_F_ERROR (1u << 5)

struct vfio_user_version {
	uint16_t major;
	uint16_t minor;
	/* then optional JSON, NUL-terminated */
};
static_assert(sizeof(struct vfio_user_version) == 4, "vfio-user version");

#define VFIO_USER_DEFAULT_MAX_DATA_XFER (1u << 20)

struct vfio_user_dma_map {
	uint32_t argsz;
	uint32_t flags;
	uint64_t offset;
	uint64_t addr;
	uint64_t size;
};
static_assert(sizeof(struct vfio_user_dma_map) == 32, "vfio-user dma map");
#define VFIO_USER_F_DMA_REGION_READ (1u << 0)
#define VFIO_USER_F_DMA_REGION_WRITE (1u << 1)

struct vfio_user_dma_unmap {
	uint32_t argsz;
	uint32_t flags;
	uint64_t addr;
	uint64_t size;
};
static_assert(sizeof(struct vfio_user_dma_unmap) == 24, "vfio-user dma unmap");
#define VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP (1u << 0)
#define VFIO_DMA_UNMAP_FLAG_ALL (1u << 1)

struct vfio_user_device_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t num_regions;
	uint32_t num_irqs;
};
static_assert(sizeof(struct vfio_user_device_info) == 16, "vfio-user device info");
#define VFIO_DEVICE_FLAGS_RESET (1u << 0)
#define VFIO_DEVICE_FLAGS_PCI (1u << 1)

struct vfio_user_region_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t cap_offset;
	uint64_t size;
	uint64_t offset;
};
static_assert(sizeof(struct vfio_user_region_info) == 32, "vfio-user region info");
#define VFIO_REGION_INFO_FLAG_READ (1u << 0)
#define VFIO_REGION_INFO_FLAG_WRITE (1u << 1)
#define VFIO_REGION_INFO_FLAG_MMAP (1u << 2)
#define VFIO_REGION_INFO_FLAG_CAPS (1u << 3)

struct vfio_info_cap_header {
	uint16_t id;
	uint16_t version;
	uint32_t next;
};
#define VFIO_REGION_INFO_CAP_SPARSE_MMAP 1

struct vfio_region_sparse_mmap_area {
	uint64_t offset;
	uint64_t size;
};

struct vfio_region_info_cap_sparse_mmap {
	struct vfio_info_cap_header header;
	uint32_t nr_areas;
	uint32_t reserved;
	/* then nr_areas areas */
};
static_assert(sizeof(struct vfio_region_info_cap_sparse_mmap) == 16, "sparse mmap cap");

struct vfio_user_irq_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;
};
static_assert(sizeof(struct vfio_user_irq_info) == 16, "vfio-user irq info");
#define VFIO_IRQ_INFO_EVENTFD (1u << 0)
#define VFIO_IRQ_INFO_MASKABLE (1u << 1)
#define VFIO_IRQ_INFO_AUTOMASKED (1u << 2)
#define VFIO_IRQ_INFO_NORESIZE (1u << 3)

struct vfio_user_irq_set {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t start;
	uint32_t count;
	/* then data (DATA_BOOL: count bytes) */
};
static_assert(sizeof(struct vfio_user_irq_set) == 20, "vfio-user irq set");
#define VFIO_IRQ_SET_DATA_NONE (1u << 0)
#define VFIO_IRQ_SET_DATA_BOOL (1u << 1)
#define VFIO_IRQ_SET_DATA_EVENTFD (1u << 2)
#define VFIO_IRQ_SET_DATA_TYPE_MASK 0x7u
#define VFIO_IRQ_SET_ACTION_MASK (1u << 3)
#define VFIO_IRQ_SET_ACTION_UNMASK (1u << 4)
#define VFIO_IRQ_SET_ACTION_TRIGGER (1u << 5)
#define VFIO_IRQ_SET_ACTION_TYPE_MASK 0x38u

struct vfio_user_region_access {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	/* then data */
};
static_assert(sizeof(struct vfio_user_region_access) == 16, "vfio-user region access");

struct vfio_user_dma_access {
	uint64_t addr;
	uint64_t count;
};

/* PCI region and interrupt indices (linux/vfio.h). */
enum {
	VFIO_PCI_BAR0_REGION_INDEX = 0,
	VFIO_PCI_BAR4_REGION_INDEX = 4,
	VFIO_PCI_BAR5_REGION_INDEX = 5,
	VFIO_PCI_ROM_REGION_INDEX = 6,
	VFIO_PCI_CONFIG_REGION_INDEX = 7,
	VFIO_PCI_VGA_REGION_INDEX = 8,
	VFIO_PCI_NUM_REGIONS = 9,
};
enum {
	VFIO_PCI_INTX_IRQ_INDEX = 0,
	VFIO_PCI_MSI_IRQ_INDEX = 1,
	VFIO_PCI_MSIX_IRQ_INDEX = 2,
	VFIO_PCI_ERR_IRQ_INDEX = 3,
	VFIO_PCI_REQ_IRQ_INDEX = 4,
	VFIO_PCI_NUM_IRQS = 5,
};

#endif
