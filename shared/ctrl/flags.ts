/**
 * The START / END bits of chunked control messages (ctrl_cfg_policy, ctrl_cfg_internal_net):
 * chunks accumulate from a START and are committed on END; one message alone carries both (3).
 */
export const MSG_START = 1;
export const MSG_END = 2;
