//! The agents' gateway network on Docker, and the relay on it. The network
//! is internal and holds no address of the host (`inhibit_ipv4`): a
//! container on it reaches only the other containers on it. One of them is
//! this daemon's relay (`gateway::relay`), which forwards to the gateway's
//! unix socket; so an agent reaches the gateway and nothing else of the
//! host, whatever listens on the host's addresses. The relay outlives a
//! daemon that dies, so a re-attached job's address stays good.

use super::docker::{LABEL_DAEMON, LABEL_JOB, docker_message, is_status};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    StartContainerOptions,
};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Tells the relay from jobs' containers.
pub const LABEL_ROLE: &str = "cattery.role";
/// The bridge driver's option that leaves the host without an address on
/// the network.
const NO_HOST_ADDRESS: &str = "com.docker.network.bridge.inhibit_ipv4";
/// Where the relay listens, on its own address.
const RELAY_PORT: u16 = 8080;
/// Where the relay finds the daemon's binary, the host's C libraries and
/// the gateway's socket.
const RELAY_DIR: &str = "/cattery-relay";

/// The internal networks of `network = "gateway"` are named with this and
/// their subnet.
pub const GATEWAY_NETWORK_PREFIX: &str = "cattery-gateway-";

/// The gateway network for `subnet`: a changed `docker_gateway_subnet`
/// gets a network of its own instead of meeting the old one's name.
pub fn gateway_network_name(subnet: &str) -> String {
    format!(
        "{GATEWAY_NETWORK_PREFIX}{}",
        subnet.replace(['.', '/'], "-")
    )
}

/// What the relay needs: the network's subnet, the gateway's socket, and
/// images it may run in (any will do: it runs the daemon's own binary).
#[derive(Debug, Clone)]
pub struct RelaySpec {
    pub subnet: String,
    pub socket: PathBuf,
    pub images: Vec<String>,
}

/// Makes the network (or finds it) and this daemon's relay on it; answers
/// the network's name and where its containers reach the gateway.
pub(super) async fn connect(
    docker: &Docker,
    daemon_id: &str,
    spec: &RelaySpec,
) -> Result<(String, SocketAddr), String> {
    let network = gateway_network_name(&spec.subnet);
    sealed_network(docker, &network, &spec.subnet).await?;
    let address = relay(docker, daemon_id, &network, spec).await?;
    Ok((network, address))
}

/// Removes the relay when no job of this daemon is left to need it (a
/// clean stop with no container running).
pub(super) async fn release(docker: &Docker, daemon_id: &str) {
    let filters = HashMap::from([(
        "label",
        vec![format!("{LABEL_DAEMON}={daemon_id}"), LABEL_JOB.to_owned()],
    )]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    match docker.list_containers(Some(options)).await {
        Ok(jobs) if jobs.is_empty() => {}
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(
                "cannot list containers before removing the relay: {}",
                docker_message(&e)
            );
            return;
        }
    }
    let remove = RemoveContainerOptionsBuilder::new().force(true).build();
    match docker
        .remove_container(&relay_name(daemon_id), Some(remove))
        .await
    {
        Ok(()) => {}
        Err(e) if is_status(&e, 404) => {}
        Err(e) => tracing::warn!("cannot remove the gateway relay: {}", docker_message(&e)),
    }
}

fn relay_name(daemon_id: &str) -> String {
    format!("cattery-relay-{daemon_id}")
}

/// The network, internal and with no host address. One an older daemon
/// made with the host on it is replaced, if no container holds it.
async fn sealed_network(docker: &Docker, name: &str, subnet: &str) -> Result<(), String> {
    let host = subnet_gateway(subnet)?;
    match inspect_network(docker, name).await? {
        Some(true) => return Ok(()),
        Some(false) => replace_unsealed(docker, name).await?,
        None => {}
    }
    // An address this machine already has means the subnet is in use here
    // (another network, or a bridge a stopped engine left behind).
    if std::net::TcpListener::bind((host, 0)).is_ok() {
        return match inspect_network(docker, name).await? {
            Some(_) => Ok(()),
            None => Err(format!(
                "{host}, the address of docker_gateway_subnet {subnet}, is already on one of this machine's interfaces (another network, or a bridge a stopped engine left behind: see `ip -br addr`); set docker_gateway_subnet in config.toml to a free subnet, or remove that interface"
            )),
        };
    }
    let request = bollard::models::NetworkCreateRequest {
        name: name.to_owned(),
        internal: Some(true),
        options: Some(HashMap::from([(
            NO_HOST_ADDRESS.to_owned(),
            "true".to_owned(),
        )])),
        ipam: Some(bollard::models::Ipam {
            config: Some(vec![bollard::models::IpamConfig {
                subnet: Some(subnet.to_owned()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    // Daemons on one engine share the network and may start at once: the
    // one whose create loses the race ("Pool overlaps") uses the winner's.
    match docker.create_network(request).await {
        Ok(_) => Ok(()),
        Err(e) => match inspect_network(docker, name).await? {
            Some(_) => Ok(()),
            None => Err(format!(
                "cannot make the Docker network {name} on {subnet}: {}; set docker_gateway_subnet in config.toml to a free subnet, or network = \"host\" for the kind",
                docker_message(&e)
            )),
        },
    }
}

/// Whether the network exists, and if so whether the host is off it.
async fn inspect_network(docker: &Docker, name: &str) -> Result<Option<bool>, String> {
    match docker.inspect_network(name, None).await {
        Ok(network) => Ok(Some(
            network
                .options
                .and_then(|o| o.get(NO_HOST_ADDRESS).cloned())
                .is_some_and(|v| v == "true"),
        )),
        Err(e) if is_status(&e, 404) => Ok(None),
        Err(e) => Err(format!(
            "cannot read the Docker network {name}: {}",
            docker_message(&e)
        )),
    }
}

async fn replace_unsealed(docker: &Docker, name: &str) -> Result<(), String> {
    match docker.remove_network(name).await {
        Ok(()) => {
            tracing::warn!(
                network = name,
                "replaced a gateway network that held the host's address"
            );
            Ok(())
        }
        Err(e) if is_status(&e, 404) => Ok(()),
        Err(e) => Err(format!(
            "the Docker network {name} gives its containers the host's address (an older catteryd made it), and cannot be replaced: {}; stop the containers on it, then `docker network rm {name}`",
            docker_message(&e)
        )),
    }
}

/// This daemon's relay on `network`, running: the one left by the last
/// daemon on this home, or a new one.
async fn relay(
    docker: &Docker,
    daemon_id: &str,
    network: &str,
    spec: &RelaySpec,
) -> Result<SocketAddr, String> {
    let name = relay_name(daemon_id);
    if let Some(address) = running_relay(docker, &name, network).await? {
        return Ok(address);
    }
    let image = present_image(docker, &spec.images).await?;
    let body = relay_body(daemon_id, network, &image, &spec.socket)?;
    let options = CreateContainerOptionsBuilder::new().name(&name).build();
    docker
        .create_container(Some(options), body)
        .await
        .map_err(|e| {
            format!(
                "cannot create the gateway relay {name}: {}",
                docker_message(&e)
            )
        })?;
    docker
        .start_container(&name, None::<StartContainerOptions>)
        .await
        .map_err(|e| {
            format!(
                "cannot start the gateway relay {name}: {}",
                docker_message(&e)
            )
        })?;
    running_relay(docker, &name, network).await?.ok_or_else(|| {
        format!("the gateway relay {name} stopped as it started; see `docker logs {name}`")
    })
}

/// The relay's address if it runs on `network`; one that does not is removed.
async fn running_relay(
    docker: &Docker,
    name: &str,
    network: &str,
) -> Result<Option<SocketAddr>, String> {
    let found = match docker.inspect_container(name, None).await {
        Ok(found) => found,
        Err(e) if is_status(&e, 404) => return Ok(None),
        Err(e) => {
            return Err(format!(
                "cannot read the gateway relay {name}: {}",
                docker_message(&e)
            ));
        }
    };
    let running = found.state.as_ref().and_then(|s| s.running) == Some(true);
    let ip = found
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|n| n.get(network).cloned())
        .and_then(|n| n.ip_address)
        .and_then(|ip| ip.parse::<IpAddr>().ok());
    match (running, ip) {
        (true, Some(ip)) => Ok(Some(SocketAddr::new(ip, RELAY_PORT))),
        _ => {
            let remove = RemoveContainerOptionsBuilder::new().force(true).build();
            let _ = docker.remove_container(name, Some(remove)).await;
            Ok(None)
        }
    }
}

async fn present_image(docker: &Docker, images: &[String]) -> Result<String, String> {
    if images.is_empty() {
        return Err(
            "no kind is on network = \"gateway\" with an image, so no relay to the gateway runs"
                .to_owned(),
        );
    }
    for image in images {
        if docker.inspect_image(image).await.is_ok() {
            return Ok(image.clone());
        }
    }
    Err(format!(
        "none of the images of the kinds on network = \"gateway\" ({}) is on the Docker engine, so the gateway relay cannot run; build the agent image (scripts/build-agent-image.sh)",
        images.join(", ")
    ))
}

fn relay_body(
    daemon_id: &str,
    network: &str,
    image: &str,
    socket: &Path,
) -> Result<ContainerCreateBody, String> {
    use std::os::unix::fs::MetadataExt;
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find catteryd's own binary: {e}"))?;
    let loader = host_loader()?;
    let (Some(libs), Some(loader_name)) = (loader.parent(), loader.file_name()) else {
        return Err(format!("the loader {} has no folder", loader.display()));
    };
    let (Some(run), Some(socket_name)) = (socket.parent(), socket.file_name()) else {
        return Err(format!(
            "the gateway socket {} has no folder",
            socket.display()
        ));
    };
    let owner = std::fs::metadata(run)
        .map(|m| format!("{}:{}", m.uid(), m.gid()))
        .map_err(|e| format!("cannot read {}: {e}", run.display()))?;
    let binds = vec![
        format!("{}:{RELAY_DIR}/catteryd:ro", exe.display()),
        format!("{}:{RELAY_DIR}/lib:ro", libs.display()),
        format!("{}:{RELAY_DIR}/run", run.display()),
    ];
    let host_config = HostConfig {
        binds: Some(binds),
        network_mode: Some(network.to_owned()),
        cap_drop: Some(vec!["ALL".to_owned()]),
        security_opt: Some(vec!["no-new-privileges".to_owned()]),
        memory: Some(64 * 1024 * 1024),
        pids_limit: Some(64),
        // Back after an engine restart, so jobs re-attached then reach the gateway.
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
            maximum_retry_count: None,
        }),
        ..HostConfig::default()
    };
    let args = [
        "--library-path".to_owned(),
        format!("{RELAY_DIR}/lib"),
        format!("{RELAY_DIR}/catteryd"),
        "relay".to_owned(),
        "--listen".to_owned(),
        format!("0.0.0.0:{RELAY_PORT}"),
        "--to".to_owned(),
        format!("{RELAY_DIR}/run/{}", socket_name.to_string_lossy()),
    ];
    Ok(ContainerCreateBody {
        image: Some(image.to_owned()),
        // The host's loader runs the daemon's binary with the host's C
        // libraries: nothing of the image runs.
        entrypoint: Some(vec![format!(
            "{RELAY_DIR}/lib/{}",
            loader_name.to_string_lossy()
        )]),
        cmd: Some(args.to_vec()),
        env: Some(Vec::new()),
        user: Some(owner),
        labels: Some(HashMap::from([
            (LABEL_DAEMON.to_owned(), daemon_id.to_owned()),
            (LABEL_ROLE.to_owned(), "relay".to_owned()),
        ])),
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    })
}

/// The host's dynamic loader, its links resolved: its folder holds the C
/// libraries the daemon's binary needs.
fn host_loader() -> Result<PathBuf, String> {
    #[cfg(target_arch = "x86_64")]
    const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";
    #[cfg(target_arch = "aarch64")]
    const LOADER: &str = "/lib/ld-linux-aarch64.so.1";
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    const LOADER: &str = "";
    std::fs::canonicalize(LOADER).map_err(|e| {
        format!("cannot find the host's dynamic loader {LOADER:?} for the gateway relay: {e}")
    })
}

/// The first host address of an IPv4 `a.b.c.d/n` subnet: the bridge's.
fn subnet_gateway(subnet: &str) -> Result<std::net::IpAddr, String> {
    let bad =
        || format!("docker_gateway_subnet {subnet:?} is not an IPv4 subnet such as 172.30.77.0/24");
    let (net, bits) = subnet.split_once('/').ok_or_else(bad)?;
    let net: std::net::Ipv4Addr = net.parse().map_err(|_| bad())?;
    let bits: u32 = bits.parse().map_err(|_| bad())?;
    if !(8..=30).contains(&bits) {
        return Err(bad());
    }
    let first = u32::from(net) & (u32::MAX << (32 - bits));
    Ok(std::net::IpAddr::V4(std::net::Ipv4Addr::from(first + 1)))
}

#[cfg(test)]
mod network_tests {
    #[test]
    fn a_subnets_gateway_is_its_first_host_address_and_a_bad_subnet_is_named() {
        assert_eq!(
            super::subnet_gateway("172.30.77.0/24").unwrap().to_string(),
            "172.30.77.1"
        );
        assert_eq!(
            super::subnet_gateway("10.9.8.7/16").unwrap().to_string(),
            "10.9.0.1"
        );
        for bad in ["172.30.77.0", "nope/24", "10.0.0.0/31", "::1/64"] {
            let err = super::subnet_gateway(bad).unwrap_err();
            assert!(err.contains("is not an IPv4 subnet"), "{err}");
        }
    }
}
