//! Every WGSL file parses and validates with naga, without a device, and every kernel's entry
//! point and bindings match the table the host builds its bind groups from.

use std::collections::BTreeSet;

use edgegrad::gpu::kernels::{Access, Kernel, ShaderFile};
use naga::valid::{Capabilities, ValidationFlags, Validator};
use naga::{AddressSpace, StorageAccess};

fn parse_and_validate(name: &str, source: &str) -> naga::Module {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name} does not parse:\n{}", e.emit_to_string(source)));
    Validator::new(ValidationFlags::all(), Capabilities::default())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name} does not validate:\n{}", e.emit_to_string(source)));
    module
}

#[test]
fn every_shader_file_validates() {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let on_disk: BTreeSet<String> = std::fs::read_dir(folder)
        .expect("the shaders folder exists")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".wgsl"))
        .collect();
    let mut known: BTreeSet<String> = ShaderFile::ALL
        .iter()
        .map(|f| f.file_name().to_string())
        .collect();
    known.insert("common.wgsl".to_string());
    assert_eq!(
        on_disk, known,
        "every file in shaders/ must be listed in ShaderFile::ALL"
    );

    let common = std::fs::read_to_string(format!("{folder}/common.wgsl")).unwrap();
    parse_and_validate("common.wgsl", &common);
    for file in ShaderFile::ALL {
        parse_and_validate(file.file_name(), &file.source());
    }
}

#[test]
fn kernel_table_matches_shader_bindings() {
    for kernel in Kernel::ALL {
        let file = kernel.shader();
        let module = parse_and_validate(file.file_name(), &file.source());
        assert!(
            module
                .entry_points
                .iter()
                .any(|e| e.name == kernel.entry_point()),
            "{} has no entry point `{}`",
            file.file_name(),
            kernel.entry_point()
        );
        for (index, access) in kernel.storage_bindings().iter().enumerate() {
            let binding = index as u32 + 1;
            let global = module
                .global_variables
                .iter()
                .map(|(_, g)| g)
                .find(|g| {
                    g.binding
                        .as_ref()
                        .is_some_and(|b| b.group == 0 && b.binding == binding)
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{}: binding {binding} of {kernel:?} is not declared",
                        file.file_name()
                    )
                });
            let AddressSpace::Storage { access: declared } = global.space else {
                panic!(
                    "{}: binding {binding} is not a storage buffer",
                    file.file_name()
                );
            };
            let expected = match access {
                Access::Read => StorageAccess::LOAD,
                Access::ReadWrite => StorageAccess::LOAD | StorageAccess::STORE,
            };
            assert_eq!(
                declared,
                expected,
                "{}: binding {binding} access differs from the table for {kernel:?}",
                file.file_name()
            );
        }
        let params = module.global_variables.iter().map(|(_, g)| g).find(|g| {
            g.binding
                .as_ref()
                .is_some_and(|b| b.group == 0 && b.binding == 0)
        });
        assert!(
            params.is_some_and(|g| g.space
                == AddressSpace::Storage {
                    access: StorageAccess::LOAD
                }),
            "{}: binding 0 must be the read-only parameter block",
            file.file_name()
        );
    }
}
