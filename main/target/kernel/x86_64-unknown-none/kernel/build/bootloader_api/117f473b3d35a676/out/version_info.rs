
            pub const VERSION_MAJOR: u16 = 0;
            pub const VERSION_MINOR: u16 = 11;
            pub const VERSION_PATCH: u16 = 17;
            pub const VERSION_PRE: bool = false;
            