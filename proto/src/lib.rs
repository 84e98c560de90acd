//! Wire contracts of OmniRelay Mesh. (Filled in by the workspace issue.)
