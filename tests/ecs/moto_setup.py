"""moto_setup.py - prepare a fresh moto_server for the ecs executor tests.

Run by moto-up.sh with the emulator's URL.  While signature checking is
still off it creates an IAM user with an allow-all policy and an access key,
a cluster, a VPC (DNS host names on, which moto needs for awsvpc tasks), a
subnet, a security group, the task definitions "worker" and "worker-heavy"
(containers with memory, awslogs to the test log group) and the log group.
Then it switches signature checking on (POST /moto-api/reset-auth, body 0,
Content-Type text/plain).  Prints shell assignments for the test.
"""
import json
import sys
import urllib.request

import boto3

REGION = "us-east-1"
CLUSTER = "runcell-test"
LOG_GROUP = "/runcell/test"
PREFIX = "runcell"


def client(url, name, key="setup", secret="setup"):
    return boto3.client(name, region_name=REGION, endpoint_url=url,
                        aws_access_key_id=key,
                        aws_secret_access_key=secret)


def main():
    url = sys.argv[1]
    iam = client(url, "iam")
    iam.create_user(UserName="runcell-test")
    policy = iam.create_policy(
        PolicyName="runcell-allow-all",
        PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*",
                           "Resource": "*"}],
        }))
    iam.attach_user_policy(UserName="runcell-test",
                           PolicyArn=policy["Policy"]["Arn"])
    key = iam.create_access_key(UserName="runcell-test")["AccessKey"]

    ec2 = client(url, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")
    subnet = subnet["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="runcell-test",
                                   Description="runcell test", VpcId=vpc)
    sg = sg["GroupId"]

    ecs = client(url, "ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    for family, mem in (("worker", 512), ("worker-heavy", 4096)):
        ecs.register_task_definition(
            family=family,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="1024" if family == "worker" else "4096",
            memory=str(mem * 2),
            containerDefinitions=[{
                "name": family,
                "image": "example.invalid/runcell-worker:latest",
                "memory": mem,
                "essential": True,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": LOG_GROUP,
                        "awslogs-region": REGION,
                        "awslogs-stream-prefix": PREFIX,
                    },
                },
            }])
    client(url, "logs").create_log_group(logGroupName=LOG_GROUP)

    req = urllib.request.Request(url + "/moto-api/reset-auth", data=b"0",
                                 headers={"Content-Type": "text/plain"},
                                 method="POST")
    urllib.request.urlopen(req, timeout=10).read()

    out = {
        "RUNCELL_MOTO_URL": url,
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        "RUNCELL_ECS_REGION": REGION,
        "RUNCELL_ECS_CLUSTER": CLUSTER,
        "RUNCELL_ECS_SUBNET": subnet,
        "RUNCELL_ECS_SECURITY_GROUP": sg,
        "RUNCELL_ECS_LOG_GROUP": LOG_GROUP,
        "RUNCELL_ECS_LOG_PREFIX": PREFIX,
    }
    for k, v in out.items():
        print("%s='%s'" % (k, v.replace("'", "'\\''")))


if __name__ == "__main__":
    main()
